"""Talking to the running app: ``parakeet-desktop toggle|start|stop|status|quit``.

The app listens on a local socket (a Unix socket in the user's runtime folder, a named pipe on
Windows) through Qt's QLocalServer; this client side uses only the standard library, so the
command answers in a blink without loading Qt. One line goes each way: the command, then
``ok ...`` or ``error: ...``.

This is also how a second launch finds the first (one instance only), and how desktops that do
not let apps grab a global hotkey (Wayland) start dictation: bind ``parakeet-desktop toggle`` in
the desktop's own keyboard shortcut settings.
"""

from __future__ import annotations

import enum
import getpass
import hashlib
import os
import socket
import sys
import tempfile
from pathlib import Path


class Request(enum.StrEnum):
    """What a program may ask the running app, one line each ("commands" on the command line)."""

    TOGGLE = "toggle"
    START = "start"
    STOP = "stop"
    STATUS = "status"
    SHOW = "show"  # a second launch: bring the running app forward
    QUIT = "quit"


MAX_SOCKET_PATH = 100  # bytes: sun_path holds 108 on Linux and 104 on macOS, with its NUL (Qt takes less)


def server_name() -> str:
    """The name QLocalServer listens on: a full socket path on Unix, a pipe name on Windows."""
    user = "".join(c for c in getpass.getuser() if c.isalnum()) or "user"
    if sys.platform == "win32":
        return f"parakeet-desktop-{user}"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(runtime) if runtime and os.path.isdir(runtime) else Path(tempfile.gettempdir())
    path = str(folder / f"parakeet-desktop-{user}.sock")
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        # A Unix socket's path has room for about a hundred bytes: one in a deep runtime folder
        # goes to the temporary folder, named after that runtime folder (the app and its
        # commands, with the same environment, agree on it; another session's differs).
        folder_id = hashlib.sha256(os.fsencode(folder)).hexdigest()[:16]
        path = str(Path(tempfile.gettempdir()) / f"parakeet-desktop-{user[:32]}-{folder_id}.sock")
    return path


class NotRunning(Exception):
    """No running app answered."""


class InstanceLock:
    """The one-instance lock: an exclusive lock on a file beside the control socket, held while
    the app runs and let go by the system when it exits, however it exits.

    Asking the socket alone leaves a race: two launches in the same instant both find nobody
    answering, and the second removes the first's socket. Whoever holds this lock owns the
    socket name; a socket file without a lock holder is a crashed instance's leftover.
    """

    def __init__(self) -> None:
        self.path = Path(server_name() + ".lock") if sys.platform != "win32" \
            else Path(tempfile.gettempdir()) / f"{server_name()}.lock"
        self._file = None

    def acquire(self) -> bool:
        """Take the lock; False when another instance holds it."""
        handle = open(self.path, "a+b")  # noqa: SIM115 - held open while the app runs
        try:
            if sys.platform == "win32":
                import msvcrt

                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing lets go of the lock
            self._file = None


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
    except (TimeoutError, OSError) as exc:
        raise NotRunning(str(exc)) from exc
    return answer.decode("utf-8").strip()
