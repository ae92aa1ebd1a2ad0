"""Talking to the running app: ``parakeet-desktop toggle|start|stop|status``.

The app listens on a local socket (a Unix socket in the user's runtime folder, a named pipe on
Windows) through Qt's QLocalServer; this client side uses only the standard library, so the
command answers in a blink without loading Qt. One line goes each way: the command, then
``ok ...`` or ``error: ...``.

This is also how a second launch finds the first (one instance only), and how desktops that do
not let apps grab a global hotkey (Wayland) start dictation: bind ``parakeet-desktop toggle`` in
the desktop's own keyboard shortcut settings.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
import tempfile
from pathlib import Path

COMMANDS = ("toggle", "start", "stop", "status", "show")


def server_name() -> str:
    """The name QLocalServer listens on: a full socket path on Unix, a pipe name on Windows."""
    user = "".join(c for c in getpass.getuser() if c.isalnum()) or "user"
    if sys.platform == "win32":
        return f"parakeet-desktop-{user}"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(runtime) if runtime and os.path.isdir(runtime) else Path(tempfile.gettempdir())
    return str(folder / f"parakeet-desktop-{user}.sock")


class NotRunning(Exception):
    """No running app answered."""


def send(command: str, timeout: float = 5.0) -> str:
    """Send *command* to the running app; its one-line answer. Raises NotRunning."""
    message = (command + "\n").encode("utf-8")
    if sys.platform == "win32":
        try:
            with open(rf"\\.\pipe\{server_name()}", "r+b", buffering=0) as pipe:
                pipe.write(message)
                return pipe.readline().decode("utf-8").strip()
        except OSError as exc:
            raise NotRunning(str(exc)) from exc
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(timeout)
            client.connect(server_name())
            client.sendall(message)
            answer = b""
            while not answer.endswith(b"\n"):
                part = client.recv(4096)
                if not part:
                    break
                answer += part
    except (OSError, socket.timeout) as exc:
        raise NotRunning(str(exc)) from exc
    return answer.decode("utf-8").strip()


def run_command(command: str) -> int:
    try:
        answer = send(command)
    except NotRunning:
        print("Parakeet Desktop is not running; start it with: parakeet-desktop", file=sys.stderr)
        return 1
    if answer.startswith("error"):
        print(answer, file=sys.stderr)
        return 1
    if command == "status":
        print(answer.removeprefix("ok").strip())
    return 0
