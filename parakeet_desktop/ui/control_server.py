"""The app's end of ``parakeet-desktop toggle|start|stop|status|show``: a QLocalServer."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from ..control import InstanceLock, Request, server_name

logger = logging.getLogger(__name__)


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
        self._lock = InstanceLock()

    def listen(self) -> None:
        """Start listening; raises AlreadyRunning when another instance has the name (or is
        starting at this very moment and will have it)."""
        name = server_name()
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
        line = bytes(connection.readLine().data()).decode("utf-8", "replace").strip()
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
