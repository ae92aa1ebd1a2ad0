"""The app's end of ``parakeet-desktop toggle|start|stop|status|show``: a QLocalServer."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import assert_never

from PySide6.QtCore import QObject
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from .. import control
from ..control import Request

logger = logging.getLogger(__name__)


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


class AlreadyRunning(Exception):
    """Another instance answers on the control socket."""


class ControlServer(QObject):
    """Answers one-line commands with ``handle(command) -> answer`` on the GUI thread."""

    def __init__(self, handle: Callable[[Request], str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._handle = handle
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._accept)
        self._lock = control.InstanceLock()

    def listen(self) -> None:
        """Start listening; raises AlreadyRunning when another instance has the name (or is
        starting at this very moment and will have it)."""
        name = control.server_name()
        if not self._lock.acquire():
            raise AlreadyRunning(name)
        QLocalServer.removeServer(name)  # the lock is ours: a socket file there is a crashed instance's
        if not self._server.listen(name):
            self._lock.release()
            raise OSError(f"cannot listen on {name}: {self._server.errorString()}")

    def close(self) -> None:
        self._server.close()
        self._lock.release()

    def _accept(self) -> None:
        while self._server.hasPendingConnections():
            connection = self._server.nextPendingConnection()
            connection.readyRead.connect(lambda c=connection: self._read(c))
            connection.disconnected.connect(connection.deleteLater)

    def _read(self, connection: QLocalSocket) -> None:
        if not connection.canReadLine():
            return
        line = bytes(connection.readLine()).decode("utf-8", "replace").strip()
        try:
            request = Request(line)
        except ValueError:
            answer = f"error: unknown command {line!r}; use one of {', '.join(Request)}"
        else:
            try:
                answer = self._handle(request)
            except Exception as exc:  # the caller gets a line, not a dropped connection
                logger.exception("Control request %s failed", request)
                answer = f"error: {exc}"
        connection.write((answer + "\n").encode("utf-8"))
        connection.flush()
        connection.disconnectFromServer()
