"""Entry point of ``parakeet-desktop`` and ``python -m parakeet_desktop``."""

from __future__ import annotations

import sys

if sys.platform == "win32":  # the Windows API exists there alone
    def _attach_parent_console() -> None:
        """A Windows GUI program has no console: print to the terminal it was started from, if any."""
        import ctypes

        if ctypes.windll.kernel32.AttachConsole(-1):  # ATTACH_PARENT_PROCESS
            sys.stdout = open("CONOUT$", "w", encoding="utf-8")  # noqa: SIM115 - the process's own stdout
            sys.stderr = open("CONOUT$", "w", encoding="utf-8")  # noqa: SIM115 - and stderr, open for its life


def main() -> int:
    if sys.platform == "win32" and sys.stdout is None:
        _attach_parent_console()
    from .cli.main import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
