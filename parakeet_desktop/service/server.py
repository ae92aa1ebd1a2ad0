"""Running the service: uvicorn on a thread of its own, next to the engine that owns the model.

``parakeet-desktop serve`` runs the engine on the main thread (the model must be used on the
thread that loaded it: see ``engine/live/loop.py``) and the web server beside it; the tray app runs
the same server beside its engine thread. Either way there is one model in memory. While it runs,
``service.json`` in the config folder says where it listens and which process serves, so the
``transcribe`` command can find it (and check that it is still there: service/client.py).

Stopping: new requests get 503 ``shutting_down`` at once, requests in flight get the same when
the engine stops, every WebSocket stream gets its last final, then the server closes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from pathlib import Path

from ..settings import config_dir, data_dir
from ..storage import write_atomic
from .app import ServiceConfig, create_app
from .client import DISCOVERY_FILE
from .link import EngineLink
from .protocol import timely_h11
from .security import TOKEN_ENV, TOKEN_FILE, load_or_make_token
from .stream import FINAL_TIMEOUT_SECONDS
from .uploads import UploadFolder

logger = logging.getLogger(__name__)


class ServiceThread:
    """uvicorn serving *app* on its own thread and event loop."""

    def __init__(self, app, host: str, port: int, config: ServiceConfig) -> None:
        import uvicorn

        self.host = host
        # uvicorn's own limits where it has them: frame size, connections at once (503 past it),
        # the wait for in-flight requests at shutdown; the head's deadline, and a quarter of the
        # connections at most for those yet to send a request, from protocol.py.
        settings = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                lifespan="off", ws_max_size=config.max_frame_bytes * 2,
                                http=timely_h11(config.header_timeout, max(1, config.max_connections // 4)),
                                limit_concurrency=config.max_connections,
                                timeout_graceful_shutdown=5, server_header=False)
        self.server = uvicorn.Server(settings)
        self.thread = threading.Thread(target=self._serve, name="local-service", daemon=True)
        self.failure: BaseException | None = None

    def _serve(self) -> None:
        try:
            self.server.run()
        except BaseException as exc:  # uvicorn exits (SystemExit) when it cannot bind
            self.failure = exc

    def start(self, timeout: float = 30.0) -> None:
        """Start serving; OSError when the address cannot be used."""
        self.thread.start()
        while not self.server.started:
            self.thread.join(0.05)
            if not self.thread.is_alive():
                raise OSError(f"cannot listen on {self.host}:{self.server.config.port} "
                              "(another program may be using that port)")
            timeout -= 0.05
            if timeout <= 0:
                raise OSError("the web server did not start")

    @property
    def port(self) -> int:
        return self.server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def run(self, coroutine, timeout: float):
        """Run *coroutine* on the server's event loop, from another thread; None if the loop is
        gone or the time runs out."""
        servers = getattr(self.server, "servers", None)
        loop = servers[0].get_loop() if servers else None
        if loop is None or loop.is_closed():
            coroutine.close()
            return None
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            logger.warning("Finishing the streams took more than %.0f s; closing them", timeout)
        except Exception as exc:  # said, not shown as a traceback: the server stops either way
            logger.warning("Finishing the streams failed (%s: %s); closing them", type(exc).__name__, exc)
        return None

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


class LocalService:
    """The service around an engine link: the token, the server thread, the folder for uploads
    and the discovery file."""

    def __init__(self, link: EngineLink, config: ServiceConfig, folder: Path | None = None,
                 data_folder: Path | None = None) -> None:
        self.folder = folder or config_dir()
        self.token = load_or_make_token(self.folder)
        self.link = link
        self.config = config
        self.uploads = UploadFolder(data_folder or data_dir())
        self.app = create_app(link, self.token, config, self.uploads.open())
        self.thread = ServiceThread(self.app, config.host, config.port, config)

    @property
    def url(self) -> str:
        return self.thread.url

    @property
    def token_source(self) -> str:
        """Where a user finds the token, for the start message."""
        if os.environ.get(TOKEN_ENV, "").strip():
            return f"the token from {TOKEN_ENV}"
        return f"token: {self.folder / TOKEN_FILE}"

    def start(self) -> None:
        self.thread.start()
        record = {"url": self.url, "pid": os.getpid(), "model": self.link.model_name}
        try:
            write_atomic(self.folder / DISCOVERY_FILE, json.dumps(record) + "\n", mode=0o600)
        except OSError as exc:
            logger.warning("Cannot write %s (the transcribe command will not find the service): %s",
                           DISCOVERY_FILE, exc)
        logger.info("Local speech service at %s", self.url)

    def stop(self, grace: float = FINAL_TIMEOUT_SECONDS) -> None:
        """New requests get 503 at once; every stream gets its final (if it comes within *grace*
        seconds: the tray app, quitting, does not wait long), then the server stops."""
        self.link.stopping()
        self.thread.run(self.app.state.streams.close_all("The service is stopping.", grace), grace + 5)
        self.thread.stop()
        self.uploads.close()
        path = self.folder / DISCOVERY_FILE
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass
