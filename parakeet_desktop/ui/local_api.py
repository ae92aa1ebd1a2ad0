"""The tray app's local speech service ("Local API" in the settings): the same web service as
``parakeet-desktop serve``, sharing the engine thread's model (one model in memory), started
and stopped as the setting changes. Qt-free; the app calls it on the GUI thread."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..settings import Settings, config_dir

if TYPE_CHECKING:
    from ..service.link import EngineLink
    from ..service.server import LocalService

logger = logging.getLogger(__name__)


class LocalApi:
    def __init__(self) -> None:
        self.service: LocalService | None = None
        self.link: EngineLink | None = None
        self._serving: tuple[int, bool] | None = None  # port, streams without the token
        self._engine = None
        self._engine_error: str | None = None
        self.error: str | None = None  # why it could not start

    @property
    def url(self) -> str | None:
        return self.service.url if self.service is not None else None

    def status(self) -> str:
        if self.service is not None:
            open_streams = self._serving is not None and self._serving[1]
            return f"Serving at {self.service.url}/v1" + (" (live streams from this computer need no token)"
                                                          if open_streams else "")
        return f"Could not start: {self.error}" if self.error else "Off"

    def token(self) -> str | None:
        """The token (made when the service first starts); None before that."""
        from ..service.security import read_token

        return read_token(config_dir())

    def apply(self, settings: Settings) -> str | None:
        """Start, stop or move the service to match *settings*; the reason when it cannot start."""
        wanted = (settings.api_port, settings.api_streams_without_token) if settings.api_enabled else None
        if wanted == self._serving and (self.service is not None or wanted is None):
            return None
        self.stop()
        if wanted is None:
            return None
        from ..service.app import ServiceConfig
        from ..service.link import EngineLink
        from ..service.security import STREAMS_WITHOUT_TOKEN_WARNING
        from ..service.server import LocalService

        self.link = EngineLink(settings.model)
        if self._engine is not None:
            self.link.attach(self._engine)
        elif self._engine_error is not None:
            self.link.failed(self._engine_error)
        try:
            service = LocalService(self.link, ServiceConfig(port=wanted[0], streams_without_token=wanted[1]))
            service.start()
        except OSError as exc:
            self.error = str(exc)
            logger.warning("The local API could not start: %s", exc)
            return self.error
        if wanted[1]:
            logger.warning("%s", STREAMS_WITHOUT_TOKEN_WARNING.removeprefix("warning: "))
        self.service, self._serving, self.error = service, wanted, None
        return None

    def engine_ready(self, engine) -> None:
        self._engine, self._engine_error = engine, None
        if self.link is not None:
            self.link.attach(engine)

    def engine_failed(self, message: str) -> None:
        self._engine, self._engine_error = None, message
        if self.link is not None:
            self.link.failed(message)

    def engine_reloading(self, model: str) -> None:
        self._engine = self._engine_error = None
        if self.link is not None:
            self.link.detach(model)

    def stop(self) -> None:
        if self.service is not None:
            # On the GUI thread, which must not hang: streams get their final only if it comes
            # at once (a quitting app's engine stops right after).
            self.service.stop(grace=0.5)
        self.service = self.link = self._serving = None
