"""The app's end of ``parakeet-desktop toggle|start|stop|status|show``: a QLocalServer."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from .. import control

logger = logging.getLogger(__name__)


class AlreadyRunning(Exception):
    """Another instance answers on the control socket."""


class ControlServer(QObject):
    """Answers one-line commands with ``handle(command) -> answer`` on the GUI thread."""

    def __init__(self, handle: Callable[[str], str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._handle = handle
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._accept)

    def listen(self) -> None:
        """Start listening; raises AlreadyRunning when another instance has the name."""
        name = control.server_name()
        try:
            control.send("status", timeout=1.0)
        except control.NotRunning:
            QLocalServer.removeServer(name)  # a socket file left by a crashed instance
        else:
            raise AlreadyRunning(name)
        if not self._server.listen(name):
            raise OSError(f"cannot listen on {name}: {self._server.errorString()}")

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while self._server.hasPendingConnections():
            connection = self._server.nextPendingConnection()
            connection.readyRead.connect(lambda c=connection: self._read(c))
            connection.disconnected.connect(connection.deleteLater)

    def _read(self, connection: QLocalSocket) -> None:
        if not connection.canReadLine():
            return
        command = bytes(connection.readLine()).decode("utf-8", "replace").strip()
        if command not in control.COMMANDS:
            answer = f"error: unknown command {command!r}; use one of {', '.join(control.COMMANDS)}"
        else:
            try:
                answer = self._handle(command)
            except Exception as exc:  # the caller gets a line, not a dropped connection
                logger.exception("Control command %s failed", command)
                answer = f"error: {exc}"
        connection.write((answer + "\n").encode("utf-8"))
        connection.flush()
        connection.disconnectFromServer()
