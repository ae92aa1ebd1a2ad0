"""The service's handle on the engine that owns the model.

The engine runs on its own thread (the tray app's engine thread, or the main thread of
``parakeet-desktop serve``); the service only posts work to its inbox and gets events back on
its event loop. Requests are counted here from the moment they arrive, before their upload is
read or decoded: past the configured number a client is told to come back later (429 with
``Retry-After``) instead of waiting in an ever longer queue, and the count and the admission are
one step, so concurrent arrivals cannot all slip under the limit.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, replace

from ..engine.live import FileDone, FileJob, FileProgress, LiveEngine, Outcome, Priority
from ..engine.model import known_model, resolve_alias
from ..engine.recognize import AudioInput, Transcript, Vocabulary, unsupported
from ..engine.speakers import SpeakerRequest
from .errors import ApiError

logger = logging.getLogger(__name__)

# Seconds a client is asked to wait before trying again while the service stops or restarts.
RESTART_RETRY_SECONDS = 10.0
# Requests this short are gathered: those that arrive while the engine works on earlier ones are
# recognised together, as one job whose pieces share batches (the file path's own batching).
SHORT_SECONDS = 30.0
# The alias of the default model; in a request, clients of any Parakeet server send it.
GENERIC_ALIAS = "parakeet"
MAX_GATHERED = 16


class ServiceState(enum.Enum):
    LOADING = "loading"
    READY = "ready"
    ERROR = "error"
    STOPPING = "stopping"


class TranscriptionFailed(Exception):
    """The engine gave no transcript: *outcome* says why (FAILED with a message, CANCELLED or
    SHUT_DOWN)."""

    def __init__(self, outcome: Outcome, message: str = "") -> None:
        super().__init__(message or outcome.value)
        self.outcome = outcome


@dataclass(eq=False)
class Ticket:
    """One admitted request: its audio's length once decoded, and how much of it is done."""

    seconds: float = 0.0
    done: float = 0.0  # fraction recognised

    @property
    def remaining(self) -> float:
        return self.seconds * (1.0 - self.done)


def shutting_down() -> ApiError:
    return ApiError(503, "The service is stopping; this request was not finished. Try again once it is back.",
                    code="shutting_down", retry_after=RESTART_RETRY_SECONDS)


class EngineLink:
    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.state = ServiceState.LOADING
        self.error: str | None = None
        self.engine: LiveEngine | None = None
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._tickets: set[Ticket] = set()
        self._released: deque[float] = deque(maxlen=32)  # when the last admitted requests left
        self._in_flight: set[threading.Event] = set()  # the cancel events of work in the engine
        # Seconds in the engine per second of audio, measured on finished requests from the
        # engine taking one up to its answer (not their time waiting in the queue before).
        self.compute_ratio = 0.1
        # For /metrics: audio recognised by requests and jobs, and the engine's time on them;
        # audio streamed. Written on the event loop only.
        self.recognised_seconds = 0.0
        self.compute_seconds = 0.0
        self.streamed_seconds = 0.0
        self.streams = 0
        self.gather = True  # ServiceConfig.gather
        self._gathering: list[tuple[AudioInput, asyncio.Future]] = []
        self._gathered_running = False

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

    def stopping(self) -> None:
        """The service is stopping: new requests get 503 ``shutting_down``, and the work of those
        in flight is cancelled so that they get it too, at once (the engine may go on serving
        the tray app's own dictation)."""
        self.state = ServiceState.STOPPING
        for cancel in list(self._in_flight):
            cancel.set()

    # --- for the web layer ------------------------------------------------------------------

    @property
    def model(self):
        return self.engine.model if self.engine is not None else None

    @property
    def languages(self) -> tuple[str, ...] | None:
        """The loaded model's language codes; None when not known, or while no model is loaded."""
        return self.model.languages if self.model is not None else None

    def unsupported_language(self, code: str) -> str | None:
        """Why the loaded model cannot be told to recognise *code*; None when it can."""
        return unsupported(code, self.languages, self.model_name)

    def answers_to(self, name: str) -> bool:
        """Whether a request's model *name* means the loaded model: its id, its bare name or
        file name, or an alias of it (``parakeet`` for the default model)."""
        own = self.model_name
        return name in (own, own.rsplit("/", 1)[-1], own.removesuffix(".nemo")) or resolve_alias(name) == own

    def serves(self, name: str) -> bool:
        """Whether a request naming model *name* is served by the loaded model: any name but
        another model of the registry (clients name other services' models: ``whisper-1``), and
        ``parakeet`` whatever Parakeet is loaded (what clients of any Parakeet server send)."""
        return name == GENERIC_ALIAS or known_model(name) is None or self.answers_to(name)

    @property
    def waiting(self) -> int:
        """Requests admitted: reading, decoding, queued or running."""
        return len(self._tickets)

    def require_ready(self) -> LiveEngine:
        if self.state is ServiceState.LOADING:
            raise ApiError(503, f"The model {self.model_name} is still loading; try again shortly.",
                           code="model_loading", retry_after=5)
        if self.state is ServiceState.ERROR:
            raise ApiError(503, f"The model could not be loaded: {self.error}", code="model_unavailable")
        if self.state is ServiceState.STOPPING or self.engine is None:
            raise shutting_down()
        return self.engine

    def wait_estimate(self) -> float:
        """Seconds until the requests admitted now are through: their number over the rate at
        which requests have been leaving (everything a request does counts: upload, decoding,
        recognition, and the time dictation and streams take first); before any has left,
        their audio still to do at the engine's measured rate. A client turned away is asked
        to wait that long: a place frees sooner, but the others turned away want it too (told
        "1 s" from the engine's rate alone, 32 clients against a queue of 12 took more than 20
        tries each)."""
        now = time.monotonic()
        recent = [t for t in self._released if now - t < 60.0]
        if len(recent) >= 2 and recent[-1] > recent[0]:
            return len(self._tickets) * (recent[-1] - recent[0]) / (len(recent) - 1)
        return sum(t.remaining for t in self._tickets) * self.compute_ratio

    def admit(self, limit: float) -> Ticket:
        """Count one request in; 429, with the estimated wait, when *limit* are counted."""
        with self._lock:
            if len(self._tickets) >= limit:
                wait = max(1, math.ceil(self.wait_estimate()))
                raise ApiError(429, f"The service is busy with {len(self._tickets)} requests, through in about "
                                    f"{wait} s: try again then.",
                               code="rate_limit_exceeded", retry_after=wait)
            ticket = Ticket()
            self._tickets.add(ticket)
            return ticket

    def release(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket in self._tickets:
                self._tickets.discard(ticket)
                self._released.append(time.monotonic())

    @contextmanager
    def admitted(self, limit: float):
        ticket = self.admit(limit)
        try:
            yield ticket
        finally:
            self.release(ticket)

    def measured(self, audio_seconds: float, seconds: float) -> None:
        """A finished request's time in the engine, for the estimates of the wait."""
        self.recognised_seconds += audio_seconds
        self.compute_seconds += seconds
        if audio_seconds > 1 and seconds > 0:
            with self._lock:
                self.compute_ratio = 0.8 * self.compute_ratio + 0.2 * seconds / audio_seconds

    async def transcribe(self, audio: AudioInput, priority: Priority,
                         on_progress: Callable[[FileProgress], None] | None = None,
                         cancel: threading.Event | None = None, vocabulary: Vocabulary | None = None,
                         ticket: Ticket | None = None, speakers: SpeakerRequest | None = None) -> Transcript:
        """Recognise *audio* through the file path (pieces, batching, yielding to dictation),
        with *speakers* when asked for. Cancelled (the client went away, or *cancel* set) → the
        engine drops the work at its next layer. *ticket*: the request's admission, kept up to
        date with its progress. Raises TranscriptionFailed when there is no transcript."""
        if (self.gather and priority is Priority.REQUEST and on_progress is None and cancel is None
                and vocabulary is None and speakers is None and audio.duration <= SHORT_SECONDS):
            return await self._gathered(audio)
        engine = self.require_ready()
        events, listener = _engine_events()
        job = FileJob([audio], priority=priority, listener=listener, cancel=cancel or threading.Event(),
                      vocabulary=vocabulary, speakers=speakers)
        self._in_flight.add(job.cancel)
        engine.submit(job)
        taken = None  # when the engine took it up (its first progress)
        try:
            while True:
                event = await events.get()
                if isinstance(event, FileProgress):
                    taken = taken or time.monotonic()
                    if ticket is not None:
                        ticket.done = event.fraction
                    if on_progress is not None:
                        on_progress(event)
                elif isinstance(event, FileDone):
                    if event.transcript is None:
                        raise TranscriptionFailed(event.outcome, event.error or "")
                    self.measured(audio.duration, time.monotonic() - (taken or time.monotonic()))
                    return event.transcript
        finally:
            job.cancel.set()  # done already, or the client is gone: nothing more to do
            self._in_flight.discard(job.cancel)

    # --- short requests, gathered --------------------------------------------------------------

    async def _gathered(self, audio: AudioInput) -> Transcript:
        """Recognised at once when none of the gathered work is in the engine; otherwise with
        the others that arrive meanwhile, as soon as that work is done."""
        self.require_ready()
        future = asyncio.get_running_loop().create_future()
        self._gathering.append((audio, future))
        if not self._gathered_running:
            self._next_gathered()
        return await future

    def _next_gathered(self) -> None:
        batch = [(audio, future) for audio, future in self._gathering[:MAX_GATHERED] if not future.done()]
        del self._gathering[:MAX_GATHERED]
        self._gathered_running = bool(batch) or bool(self._gathering)
        if batch:
            asyncio.get_running_loop().create_task(self._run_gathered(batch))
        elif self._gathering:
            self._next_gathered()

    async def _run_gathered(self, batch: list[tuple[AudioInput, asyncio.Future]]) -> None:
        events, listener = _engine_events()
        # Each under a name of its own (clients' names repeat), given back in its transcript.
        inputs = [AudioInput(str(n), audio.samples, audio.warnings) for n, (audio, _) in enumerate(batch)]
        job = FileJob(list(inputs), priority=Priority.REQUEST, listener=listener, together=len(batch) > 1)

        def abandoned(_) -> None:  # every client gone: the engine drops the work at once
            if all(f.done() for _, f in batch):
                job.cancel.set()

        for _, waiting in batch:
            waiting.add_done_callback(abandoned)
        answered = 0
        try:
            engine = self.require_ready()
            self._in_flight.add(job.cancel)
            engine.submit(job)
            started = time.monotonic()
            while answered < len(batch):
                event = await events.get()
                if not isinstance(event, FileDone):
                    continue
                answered += 1
                audio, future = batch[int(event.path.name)]
                if future.done():  # its client went away
                    continue
                if event.transcript is None:
                    future.set_exception(TranscriptionFailed(event.outcome, event.error or ""))
                else:
                    future.set_result(replace(event.transcript, source=audio.name))
            self.measured(sum(audio.duration for audio, _ in batch), time.monotonic() - started)
        except BaseException as exc:  # not ready, or the loop is stopping: every one is told
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else TranscriptionFailed(Outcome.SHUT_DOWN))
            if not isinstance(exc, Exception):
                raise
        finally:
            self._in_flight.discard(job.cancel)
            self._next_gathered()


def _engine_events() -> tuple[asyncio.Queue, Callable[[object], None]]:
    """A queue on this event loop, and the listener that fills it from the engine thread."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue = asyncio.Queue()

    def listener(event) -> None:  # on the engine thread
        try:
            loop.call_soon_threadsafe(events.put_nowait, event)
        except RuntimeError:  # the loop is closed: the service is stopping
            pass

    return events, listener
