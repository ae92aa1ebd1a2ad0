"""A program's end: one request sent to the running app, its one-line answer read."""

from __future__ import annotations

import socket
import sys

from .protocol import server_name


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
    except (TimeoutError, OSError) as exc:
        raise NotRunning(str(exc)) from exc
    return answer.decode("utf-8").strip()
