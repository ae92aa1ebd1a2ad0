"""The service's figures in Prometheus's text format, at ``GET /metrics`` (with the token, as
every route but ``/health``).

prometheus-client keeps them: a registry of this app's own (several apps may live in one
process: tests, a cluster replica), counters and a latency histogram fed by an ASGI middleware
in front of everything (refusals by the guard count too), and the states the service keeps
anyway (queue, streams, the model, GPU memory) read when scraped rather than copied on every
change. Every label comes from a closed set, so no client, with the token or without, can make
the number of series grow: a route's template (never the raw path, ``other`` for the rest), a
standard method (``other`` for a made-up one), a status this app answers with. The page is
made on a worker thread, never on the event loop the requests are served on.
"""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, StateSetMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from .link import EngineLink, ServiceState

ROUTES = ("/health", "/metrics", "/v1/models", "/v1/audio/transcriptions", "/transcribe", "/v1/jobs", "/v1/stream",
          "/", "/v1/audio/transcriptions/stream")
TEMPLATES = (("/v1/jobs/", "/v1/jobs/{job_id}"), ("/v1/models/", "/v1/models/{model_id}"))
# From a health check to a long file on a CPU.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


# HTTP's methods (RFC 9110, and PATCH); any other is counted as ``other``.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


def status_label(status: int) -> str:
    return str(status) if 100 <= status <= 599 else "other"


def route_label(path: str) -> str:
    if path in ROUTES:
        return path
    for prefix, template in TEMPLATES:
        if path.startswith(prefix):
            return template
    return "other"


class ServiceMetrics:
    """One app's metrics; :meth:`page` is the body of ``/metrics``."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, link: EngineLink) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("parakeet_requests", "HTTP requests and WebSocket handshakes answered",
                                ("route", "method", "status"), registry=self.registry)
        self.latency = Histogram("parakeet_request_duration_seconds",
                                 "Time from a request's arrival to the end of its answer (HTTP)", ("route",),
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_ServiceState(link))

    def page(self) -> bytes:
        return generate_latest(self.registry)


class Measured:
    """ASGI middleware: counts each answer by route, method and status, and times HTTP ones."""

    def __init__(self, app, metrics: ServiceMetrics, state) -> None:
        self.app = app
        self.metrics = metrics
        self.state = state  # the FastAPI app's (its stream hub), for what runs the app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        route, started, status = route_label(scope["path"]), time.perf_counter(), []
        method = method_label(scope.get("method", "GET")) if scope["type"] == "http" else "WEBSOCKET"

        async def measured_send(message):
            kind = message["type"]
            if kind == "http.response.start":
                status.append(message["status"])
            elif kind == "websocket.accept" and not status:
                status.append(101)
            elif kind == "websocket.close" and not status:
                status.append(403)  # closed before it was accepted: the handshake was refused
            await send(message)

        try:
            await self.app(scope, receive, measured_send)
        finally:
            self.metrics.requests.labels(route, method, status_label(status[0] if status else 499)).inc()
            if scope["type"] == "http":
                self.metrics.latency.labels(route).observe(time.perf_counter() - started)


class _ServiceState:
    """What the service knows when scraped: the queue, the streams, the model, the GPU."""

    def __init__(self, link: EngineLink) -> None:
        self.link = link

    def describe(self):
        return []  # read at scrape time: nothing to check at registration

    def collect(self):
        link = self.link
        audio = CounterMetricFamily("parakeet_audio_seconds", "Seconds of audio recognised", labels=("source",))
        audio.add_metric(("files",), link.recognised_seconds)  # requests and jobs
        audio.add_metric(("streams",), link.streamed_seconds)
        yield audio
        yield CounterMetricFamily("parakeet_compute_seconds",
                                  "Seconds the engine spent on requests and jobs (from taking one up to its answer)",
                                  value=link.compute_seconds)
        yield GaugeMetricFamily("parakeet_queue_depth", "HTTP requests admitted: reading, decoding, queued or running",
                                value=link.waiting)
        yield GaugeMetricFamily("parakeet_streams_open", "WebSocket streams open", value=link.streams)
        state = StateSetMetricFamily("parakeet_model_state", "The model's state")
        state.add_metric([], {s.value: link.state is s for s in ServiceState})
        yield state
        model = link.model
        info = InfoMetricFamily("parakeet_model", "The model served")
        info.add_metric([], {"model": link.model_name, "device": model.device if model is not None else ""})
        yield info
        if model is not None and model.device == "cuda":
            yield from _gpu_memory()


def _gpu_memory():
    try:
        import torch

        free, total = torch.cuda.mem_get_info()
        allocated = torch.cuda.memory_allocated()
    except Exception:  # a driver that stopped answering: no figures rather than no page
        return
    yield GaugeMetricFamily("parakeet_gpu_memory_total_bytes", "The GPU's memory", value=total)
    yield GaugeMetricFamily("parakeet_gpu_memory_free_bytes", "The GPU's free memory (all processes)", value=free)
    yield GaugeMetricFamily("parakeet_gpu_memory_used_by_service_bytes", "GPU memory this service's tensors hold",
                            value=allocated)


async def metrics_response(metrics: ServiceMetrics):
    """``/metrics``: the page, made on a worker thread."""
    from fastapi.responses import Response

    return Response(await asyncio.to_thread(metrics.page), media_type=metrics.content_type)
