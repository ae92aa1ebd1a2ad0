"""The protocol between a program and the running app: one line each way, the request, then
``ok ...`` or ``error: ...``; the socket's name, and what the app answers each request.

The app listens on a local socket (a Unix socket in the user's runtime folder, a named pipe on
Windows) through Qt's QLocalServer (ui/control_server.py); the client (client.py) uses only the
standard library, so a command answers in a blink without loading Qt.
"""

from __future__ import annotations

import enum
import getpass
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import assert_never


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


@dataclass(frozen=True)
class Answers:
    """What the running app does for each request."""

    listening: Callable[[], bool]
    toggle: Callable[[], bool]  # False: no engine runs (the model is loading or did not load)
    stop: Callable[[], bool]
    quit: Callable[[], None]  # after the answer has gone back
    show: Callable[[], None]  # a second launch: the app comes forward
    status: Callable[[], dict]


def answer(request: Request, app: Answers) -> str:
    """The one-line answer to *request*, doing what it asks."""
    listening = app.listening()
    match request:
        case Request.START if listening:
            return "ok"
        case Request.STOP if not listening:
            return "ok"
        case Request.TOGGLE | Request.START:
            return "ok" if app.toggle() else "error: the model is not ready"
        case Request.STOP:
            return "ok" if app.stop() else "error: the model is not ready"
        case Request.QUIT:
            app.quit()
            return "ok"
        case Request.SHOW:
            app.show()
            return "ok"
        case Request.STATUS:
            return "ok " + json.dumps(app.status())
        case _:
            assert_never(request)
