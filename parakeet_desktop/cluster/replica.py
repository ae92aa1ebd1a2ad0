"""One replica of the cluster: one engine and one model (on its GPU, when the cluster has them),
serving the same ASGI app as ``parakeet-desktop serve`` behind Ray Serve's proxy.

The model is loaded, and the engine runs, on a thread of the replica's own (the model must be used
on the thread that loaded it); the replica's constructor waits for it, so that Serve sends a new
replica nothing before its model is ready. Jobs go to the registry (registry.py), streams stay
here. When Serve scales this replica down it stops routing to it and waits for what is ongoing:
the replica notices that it is stopping (it asks the controller, once a second, for its own
state) and ends its streams with their finals, and hands its job back, instead of holding them
until it is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time

from .. import __version__
from ..engine.live import LiveEngine
from ..service.app import ServiceConfig, create_app, gpu_id, gpu_report
from ..service.link import EngineLink, ServiceState
from ..service.uploads import UploadFolder
from ..settings import data_dir
from .jobs import ClusterJobs
from .options import ClusterOptions

logger = logging.getLogger(__name__)

DRAIN_CHECK_SECONDS = 1.0
DRAINING = "This replica is being scaled down; connect again to go on."


class SpeechReplica:
    async def __init__(self, options: ClusterOptions, token: str, registry) -> None:  # type: ignore[misc]
        # (Serve awaits an async constructor: the replica takes requests once its model is ready.)
        from ray import serve

        context = serve.get_replica_context()
        self.app_name, self.deployment = context.app_name, context.deployment
        self.replica = context.replica_id.unique_id
        self.options = options
        self.link = EngineLink(options.model)
        self.engine: LiveEngine | None = None
        loaded = threading.Event()
        self.thread = threading.Thread(target=self._own_engine, args=(loaded,), name="engine", daemon=True)
        self.thread.start()
        await asyncio.to_thread(loaded.wait)
        if self.link.state is not ServiceState.READY:
            self.thread.join(5)
            raise RuntimeError(f"the model could not be loaded: {self.link.error}")
        self.jobs = ClusterJobs(self.link, registry, self.replica, self._report)
        self.registry = registry
        self.uploads = UploadFolder(data_dir())
        config = ServiceConfig(host=options.host, port=options.port, max_waiting=options.max_queue,
                               max_streams=options.max_streams, max_jobs=options.max_jobs,
                               allowed_origins=options.allow_origin, gather=options.batching)
        self.asgi = create_app(self.link, token, config, self.uploads.open(), jobs=self.jobs,
                               more_health=self._health)
        self.draining = False
        self.jobs.start()
        self._watcher = asyncio.create_task(self._watch())
        logger.info("Replica %s ready: %s on %s", self.replica, self.link.model_name, self.link.model.device)

    def __serve_build_asgi_app__(self):
        return _Named(self.asgi, self.replica)

    def _own_engine(self, loaded: threading.Event) -> None:
        from ..engine.live import LiveSettings
        from ..engine.model import ModelError, load_model

        try:
            model = load_model(self.options.model, self.options.device, boosting=True)
        except ModelError as exc:
            self.link.failed(str(exc))
            loaded.set()
            return
        model.on_notice = lambda text: logger.warning("%s", text)
        settings = LiveSettings(diarization_model=self.options.diarization_model,
                                speaker_model=self.options.speaker_model)
        engine = self.engine = LiveEngine(model, settings, lambda event: None, microphone=False)
        self.link.attach(engine)
        loaded.set()
        engine.run()

    def _report(self) -> dict:
        """This replica's figures, for the cluster's view in ``/health``."""
        model = self.link.model
        status = "draining" if self.draining else self.link.state.value
        report = {"pid": os.getpid(), "node": _node_id(), "status": status,
                  "device": model.device if model is not None else None, "gpu_id": gpu_id(model),
                  "queue_depth": self.link.waiting,
                  "streams": self.link.streams, "version": __version__, "reported": round(time.time(), 1)}
        if model is not None and model.device == "cuda":
            report["gpu"] = gpu_report()
        return report

    async def _health(self) -> dict:
        try:
            view = await self.registry.cluster_view.remote()
        except Exception as exc:  # the registry is restarting
            view = {"error": f"the cluster's view is not available: {exc}"}
        return {"replica": self.replica, "cluster": view}

    async def _watch(self) -> None:
        """Until this replica is told to stop: then its streams get their finals and its job goes
        back to the registry, while Serve waits for what is ongoing."""
        import ray
        from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

        controller = ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
        listed = False
        while True:
            await asyncio.sleep(DRAIN_CHECK_SECONDS)
            try:
                details = await controller.get_serve_instance_details.remote()
            except Exception as exc:  # the controller restarts: ask again
                logger.debug("The controller did not answer: %s", exc)
                continue
            state = _state(details, self.app_name, self.deployment, self.replica)
            if state == "STOPPING" or state is None and listed:
                break
            listed = listed or state is not None
        await self._drain()

    async def _drain(self) -> None:
        if self.draining:
            return
        self.draining = True
        logger.info("Replica %s is stopping: ending its streams and handing its job back", self.replica)
        await self.jobs.drain()
        await self.asgi.state.streams.close_all(DRAINING, self.options.drain_seconds)

    async def check_health(self) -> None:
        if not self.thread.is_alive() and not self.draining:
            raise RuntimeError("the engine thread stopped")

    async def __del__(self) -> None:
        # Also after a constructor that failed (the model could not be loaded): only what it made.
        watcher = getattr(self, "_watcher", None)
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(Exception):
                await self._drain()
        self.link.stopping()
        if self.engine is not None:
            self.engine.shutdown()
        await asyncio.to_thread(self.thread.join, 10)
        if hasattr(self, "uploads"):
            self.uploads.close()


class _Named:
    """Every answer and WebSocket handshake says which replica gave it (``X-Parakeet-Replica``):
    for logs, load balancers' debugging and the tests."""

    def __init__(self, app, replica: str) -> None:
        self.app = app
        self.header = (b"x-parakeet-replica", replica.encode())

    async def __call__(self, scope, receive, send):
        async def named(message):
            if message["type"] in ("http.response.start", "websocket.accept"):
                message = {**message, "headers": [*message.get("headers", ()), self.header]}
            await send(message)

        await self.app(scope, receive, named if scope["type"] in ("http", "websocket") else send)


def _state(details: dict, app_name: str, deployment: str, replica: str) -> str | None:
    """This replica's state in the controller's details; None once it is not listed."""
    app = (details.get("applications") or {}).get(app_name) or {}
    replicas = ((app.get("deployments") or {}).get(deployment) or {}).get("replicas") or []
    return next((r.get("state") for r in replicas if r.get("replica_id") == replica), None)


def _node_id() -> str | None:
    try:
        import ray

        return ray.get_runtime_context().get_node_id()
    except Exception:
        return None
