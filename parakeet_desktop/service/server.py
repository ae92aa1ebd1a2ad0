"""Running the service: uvicorn on a thread of its own, next to the engine that owns the model.

``parakeet-desktop serve`` runs the engine on the main thread (the model must be used on the
thread that loaded it: see ``engine/live.py``) and the web server beside it; the tray app runs
the same server beside its engine thread. Either way there is one model in memory. While it runs,
``service.json`` in the config folder says where it listens, so the ``transcribe`` command can
find it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from pathlib import Path

from ..config import config_dir
from ..storage import write_atomic
from .app import ServiceConfig, create_app
from .client import DISCOVERY_FILE
from .link import EngineLink
from .security import NON_LOOPBACK_WARNING, is_loopback, load_or_make_token

logger = logging.getLogger(__name__)


class ServiceThread:
    """uvicorn serving *app* on its own thread and event loop."""

    def __init__(self, app, host: str, port: int, max_frame_bytes: int) -> None:
        import uvicorn

        self.host = host
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                lifespan="off", ws_max_size=max_frame_bytes * 2,
                                timeout_graceful_shutdown=5, server_header=False)
        self.server = uvicorn.Server(config)
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

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


class LocalService:
    """The service around an engine link: the token, the server thread and the discovery file."""

    def __init__(self, link: EngineLink, config: ServiceConfig, folder: Path | None = None) -> None:
        self.folder = folder or config_dir()
        self.token = load_or_make_token(self.folder)
        self.link = link
        self.config = config
        self.thread = ServiceThread(create_app(link, self.token, config), config.host, config.port,
                                    config.max_frame_bytes)

    @property
    def url(self) -> str:
        return self.thread.url

    def start(self) -> None:
        self.thread.start()
        record = {"url": self.url, "pid": os.getpid(), "model": self.link.model_name}
        try:
            write_atomic(self.folder / DISCOVERY_FILE, json.dumps(record) + "\n", mode=0o600)
        except OSError as exc:
            logger.warning("Cannot write %s (the transcribe command will not find the service): %s",
                           DISCOVERY_FILE, exc)
        logger.info("Local speech service at %s", self.url)

    def stop(self) -> None:
        self.thread.stop()
        path = self.folder / DISCOVERY_FILE
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass


def run_serve(args) -> int:
    """``parakeet-desktop serve``: the service without a desktop, until Ctrl+C or SIGTERM."""
    from ..engine.dictation import LiveSettings
    from ..engine.live import LiveEngine
    from ..terminal import load_model_saying_so, say

    if not args.verbose:
        logging.getLogger("parakeet_desktop.service").setLevel(logging.INFO)
    if not is_loopback(args.host):
        say(NON_LOOPBACK_WARNING.format(host=args.host))
    link = EngineLink(args.model)
    config = ServiceConfig(host=args.host, port=args.port, max_waiting=max(1, args.max_queue),
                           allowed_origins=tuple(args.allow_origin))
    try:
        service = LocalService(link, config)
        service.start()
    except OSError as exc:
        say(f"error: the service cannot start: {exc}")
        return 1
    say(f"Serving on {service.url} (token: {service.folder / 'api-token'}). Ctrl+C stops.")
    stopping = threading.Event()
    engine = None

    def stop(_signum, _frame) -> None:
        stopping.set()
        if engine is not None:
            engine.shutdown()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        model = load_model_saying_so(args.model, args.device, boosting=True)  # for requests' keywords
        if model is None or stopping.is_set():
            link.failed("the model could not be loaded")
            return 3 if model is None else 130
        settings = LiveSettings(rest_after_seconds=max(0, args.free_gpu_after) * 60.0 or None)
        engine = LiveEngine(model, settings, _log_event, microphone=False)
        link.attach(engine)
        say(f"Ready: {model.name} on {model.device}.")
        engine.run()  # here, on the thread that loaded the model, until a signal stops it
        say("Stopped.")
        return 0
    finally:
        service.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _log_event(event) -> None:
    from ..engine.dictation import ErrorEvent, Notice
    from ..engine.rest import ModelResting

    if isinstance(event, (ErrorEvent, Notice)):
        logger.warning("%s", event.message)
    elif isinstance(event, ModelResting):
        logger.info("The model %s (%.2f s)", "rests: its GPU memory is given back" if event.resting
                    else "is back on the GPU", event.seconds)
