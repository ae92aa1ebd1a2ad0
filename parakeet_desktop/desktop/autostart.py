"""Start at login: an XDG autostart entry on Linux, a Run key value on Windows."""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from pathlib import Path

NAME = "parakeet-desktop"


def command() -> list[str]:
    """How the login session and the menu start the app: this interpreter running this package
    (on Linux in a scope of the app's own, for the desktop's portals: desktop/app_scope.py)."""
    return [sys.executable, "-m", "parakeet_desktop"] + (["--app-scope"] if sys.platform.startswith("linux") else [])


def _desktop_file() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "autostart" / f"{NAME}.desktop"


def is_enabled() -> bool:
    if sys.platform == "win32":
        return _windows_value() is not None
    return _desktop_file().exists()


def set_enabled(enabled: bool) -> None:
    """Create or remove the entry. Raises OSError when the system refuses."""
    if sys.platform == "win32":
        _windows_set(enabled)
        return
    path = _desktop_file()
    if not enabled:
        path.unlink(missing_ok=True)
        return
    from ..storage import write_atomic

    write_atomic(path, "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Name=Parakeet Desktop",
        "Comment=Local dictation with NVIDIA Parakeet",
        f"Exec={shlex.join(command())}",
        "Terminal=false",
        "X-GNOME-Autostart-enabled=true",
        "",
    ]))


_RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"


if sys.platform == "win32":  # the registry exists there alone
    def _windows_value() -> str | None:
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, _RUN_KEY) as key:
                return winreg.QueryValueEx(key, NAME)[0]
        except FileNotFoundError:
            return None


if sys.platform == "win32":  # the registry exists there alone
    def _windows_set(enabled: bool) -> None:
        import subprocess
        import winreg

        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, _RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
            if enabled:
                # pythonw.exe beside python.exe starts without a console window.
                executable = Path(sys.executable)
                windowless = executable.with_name("pythonw.exe")
                parts = [str(windowless if windowless.exists() else executable), "-m", "parakeet_desktop"]
                winreg.SetValueEx(key, NAME, 0, winreg.REG_SZ, subprocess.list2cmdline(parts))
            else:
                with contextlib.suppress(FileNotFoundError):
                    winreg.DeleteValue(key, NAME)
