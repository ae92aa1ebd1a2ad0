"""The service's handle on the engine that owns the model.

The engine runs on its own thread (the tray app's engine thread, or the main thread of
``parakeet-desktop serve``); the service only posts work to its inbox and gets events back on
its event loop. Requests are counted here: past the configured number a client is told to come
back later (429 with ``Retry-After``) instead of waiting in an ever longer queue.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager

from ..engine.files import AudioInput
from ..engine.live import LiveEngine
from ..engine.vocabulary import Vocabulary
from ..engine.work import FileDone, FileJob, FileProgress, Priority
from ..engine.transcript import Transcript
from .errors import ApiError

logger = logging.getLogger(__name__)


class ServiceState(enum.Enum):
    LOADING = "loading"
    READY = "ready"
    ERROR = "error"


class TranscriptionFailed(Exception):
    pass


class EngineLink:
    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.state = ServiceState.LOADING
        self.error: str | None = None
        self.engine: LiveEngine | None = None
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self.waiting = 0  # requests and jobs queued or running
        self._seconds_waiting = 0.0
        # Seconds of compute per second of audio, measured on finished requests.
        self._compute_ratio = 0.1
        self.streams = 0

    # --- from the engine's owner ------------------------------------------------------------

    def attach(self, engine: LiveEngine) -> None:
        self.engine = engine
        self.model_name = engine.model.name
        self.state = ServiceState.READY

    def detach(self, model_name: str) -> None:
        """The owner is loading another model: requests get 503 until it is attached."""
        self.engine = None
        self.model_name = model_name
        self.state = ServiceState.LOADING

    def failed(self, message: str) -> None:
        self.error = message
        self.state = ServiceState.ERROR

    # --- for the web layer ------------------------------------------------------------------

    @property
    def model(self):
        return self.engine.model if self.engine is not None else None

    def require_ready(self) -> LiveEngine:
        if self.state is ServiceState.LOADING:
            raise ApiError(503, f"The model {self.model_name} is still loading; try again shortly.",
                           code="model_loading", retry_after=5)
        if self.state is ServiceState.ERROR:
            raise ApiError(503, f"The model could not be loaded: {self.error}", code="model_unavailable")
        return self.engine

    def ensure_room(self, limit: int) -> None:
        """429, with the wait the queue's audio suggests, when *limit* requests wait or run."""
        if self.waiting >= limit:
            wait = self._seconds_waiting * self._compute_ratio
            raise ApiError(429, f"The service is busy with {self.waiting} requests; try again in "
                                f"{max(1, math.ceil(wait))} s.", code="rate_limit_exceeded",
                           retry_after=max(1.0, min(60.0, wait)))

    @contextmanager
    def admitted(self, seconds: float, limit: float):
        """Count a request of *seconds* of audio while it waits and runs; 429 when *limit* do."""
        with self._lock:
            self.ensure_room(limit)
            self.waiting += 1
            self._seconds_waiting += seconds
        started = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self.waiting -= 1
                self._seconds_waiting -= seconds
                if seconds > 1:
                    ratio = (time.monotonic() - started) / seconds
                    self._compute_ratio = 0.8 * self._compute_ratio + 0.2 * ratio

    async def transcribe(self, audio: AudioInput, priority: Priority,
                         on_progress: Callable[[FileProgress], None] | None = None,
                         cancel: threading.Event | None = None, vocabulary: Vocabulary | None = None) -> Transcript:
        """Recognise *audio* through the file path (pieces, batching, yielding to dictation).
        Cancelled (the client went away, or *cancel* set) → the engine drops the work at its
        next layer."""
        engine = self.require_ready()
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()

        def listener(event) -> None:  # on the engine thread
            try:
                loop.call_soon_threadsafe(events.put_nowait, event)
            except RuntimeError:  # the loop is closed: the service is stopping
                pass

        job = FileJob([audio], priority=priority, listener=listener, cancel=cancel or threading.Event(),
                      vocabulary=vocabulary)
        engine.submit(job)
        try:
            while True:
                event = await events.get()
                if isinstance(event, FileProgress):
                    if on_progress is not None:
                        on_progress(event)
                elif isinstance(event, FileDone):
                    if event.transcript is None:
                        raise TranscriptionFailed(event.error or "no result")
                    return event.transcript
        finally:
            job.cancel.set()  # done already, or the client is gone: nothing more to do
