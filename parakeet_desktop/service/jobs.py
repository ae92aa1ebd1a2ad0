"""Long files as jobs: ``POST /v1/jobs`` answers an id at once, the file is recognised in the
background at the lowest priority, and ``GET /v1/jobs/{id}`` shows its progress, then its
result. Finished jobs are kept for an hour (at most ``keep`` of them) for their client to fetch.

A place is taken before the upload is read (:meth:`JobBook.reserve`) and given back if the upload
fails, so the limit holds however many posts arrive at once.

The routes (app.py) talk to a jobs backend: :class:`LocalJobs` keeps the book in this process and
runs each job on this engine; the cluster's (cluster/jobs.py) keeps it where every replica reaches
it, so that a job is found, and finished, whichever replica answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..engine.live import FileProgress, Outcome, Priority
from ..engine.recognize import AudioInput, Transcript, Vocabulary
from . import formats
from .errors import ApiError
from .keywords import RequestPhrases
from .link import EngineLink, ServiceState, TranscriptionFailed
from .options import TranscriptionOptions
from .speakers import speaker_request

KEEP_SECONDS = 3600.0
DRAIN_JOBS = 20  # the completed jobs the drain rate is measured over


class JobStatus(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in (JobStatus.QUEUED, JobStatus.RUNNING)


@dataclass(eq=False)
class Job:
    id: str
    file: str
    duration: float
    options: TranscriptionOptions
    status: JobStatus = JobStatus.QUEUED
    progress: float = 0.0
    created: float = field(default_factory=time.time)
    finished: float | None = None
    transcript: Transcript | None = None
    error: str | None = None
    warning: str | None = None  # what the request's hints could not do, if anything
    cancel: threading.Event = field(default_factory=threading.Event)
    task: asyncio.Task | None = None

    def summary(self, result: Callable[[Job], dict] | None = None) -> dict:
        document: dict[str, object] = {"id": self.id, "object": "transcription.job", "status": self.status.value,
                    "file": self.file, "duration": round(self.duration, 3),
                    "progress": round(self.progress, 3), "created_at": int(self.created)}
        if self.error is not None:
            document["error"] = {"message": self.error}
        if self.warning is not None:
            document["warning"] = self.warning
        if self.status is JobStatus.COMPLETED and result is not None:
            document["result"] = result(self)
        return document


@dataclass(eq=False)
class Reservation:
    """A job's place, taken before its upload is read."""


class JobBook:
    def __init__(self, keep: int = 100) -> None:
        self.keep = keep
        self._jobs: dict[str, Job] = {}
        self._reserved: set[Reservation] = set()

    def reserve(self, limit: int, compute_ratio: float) -> Reservation:
        """A place for one more job; 429 with the estimated wait when *limit* are taken. The
        check and the taking are one step (nothing awaits between them)."""
        if self.active >= limit:
            wait = max(1, math.ceil(self.wait_estimate(compute_ratio)))
            raise ApiError(429, f"{self.active} jobs are waiting or running already, about {wait} s of work: "
                                "try again then.", code="rate_limit_exceeded", retry_after=wait)
        reservation = Reservation()
        self._reserved.add(reservation)
        return reservation

    def give_back(self, reservation: Reservation) -> None:
        self._reserved.discard(reservation)

    def add(self, reservation: Reservation, file: str, duration: float, options: TranscriptionOptions) -> Job:
        self._forget_old()
        self._reserved.discard(reservation)
        job = Job(f"job_{secrets.token_hex(8)}", file, duration, options)
        self._jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        return list(self._jobs.values())

    @property
    def active(self) -> int:
        """Jobs queued or running, and places taken by uploads still arriving."""
        return len(self._reserved) + sum(job.status.active for job in self._jobs.values())

    def wait_estimate(self, compute_ratio: float) -> float:
        """Seconds until the queue is through: the active jobs' audio left, at the rate the queue
        has been draining (drain_ratio), else at the engine's *compute_ratio* (link.py), which
        leaves out what a job waits for beside other requests (told 1-8 s, a full queue took
        77-260 s to drain)."""
        left = sum(job.duration * (1 - job.progress) for job in self._jobs.values() if job.status.active)
        drained = self.drain_ratio()
        return left * (drained if drained is not None else compute_ratio)

    def drain_ratio(self) -> float | None:
        """Seconds the queue took per second of audio over its last DRAIN_JOBS completed jobs:
        each job from the moment the queue came to it (its arrival, or the end of the job before
        it, whichever is later) to its end. None before any job completed."""
        done = sorted((job for job in self._jobs.values()
                       if job.status is JobStatus.COMPLETED and job.finished is not None and job.duration > 0),
                      key=lambda job: job.finished or 0.0)[-DRAIN_JOBS:]
        busy = audio = 0.0
        previous: float | None = None
        for job in done:
            assert job.finished is not None
            began = job.created if previous is None else max(job.created, previous)
            busy += max(0.0, job.finished - began)
            audio += job.duration
            previous = job.finished
        return busy / audio if audio > 0 else None

    def _forget_old(self) -> None:
        now = time.time()
        finished = sorted((j for j in self._jobs.values() if j.finished is not None), key=lambda j: j.finished or 0.0)
        for job in finished:
            if now - (job.finished or now) > KEEP_SECONDS or len(self._jobs) >= self.keep:
                del self._jobs[job.id]


def not_found(job_id: str) -> ApiError:
    return ApiError(404, f"There is no job {job_id} (finished jobs are kept for an hour).",
                    code="job_not_found", param="job_id")


def result_document(job: Job) -> dict:
    """A finished job's result in the format its request asked for (text formats as ``text``)."""
    import json

    options, transcript = job.options, job.transcript
    assert transcript is not None, "only a completed job has a result"
    fmt = options.response_format
    language = formats.reported_language(transcript, options.language)
    if fmt in ("json", "verbose_json", "diarized_json"):
        return json.loads(bytes(formats.response(transcript, fmt, options.timestamp_granularities, language).body))
    return {"text": bytes(formats.response(transcript, fmt, (), language).body).decode()}


class Ending(enum.Enum):
    """How one run of a job on an engine ended."""

    DONE = "done"
    CANCELLED = "cancelled"  # its client cancelled it
    FAILED = "failed"  # the audio could not be recognised: running it again would fail again
    INTERRUPTED = "interrupted"  # the service stopped, or lost its model, before it was done

    @property
    def status(self) -> JobStatus:
        """The job's status after this run (an interrupted run leaves it failed, unless the
        cluster runs it again)."""
        return {Ending.DONE: JobStatus.COMPLETED, Ending.CANCELLED: JobStatus.CANCELLED}.get(self, JobStatus.FAILED)


async def run_on_engine(link: EngineLink, audio: AudioInput, vocabulary: Vocabulary | None,
                        cancel: threading.Event, progress: Callable[[float], None],
                        options: TranscriptionOptions | None = None
                        ) -> tuple[Ending, Transcript | None, str | None]:
    """Recognise a job's audio at the lowest priority (with the speakers its *options* ask for):
    how it ended, its transcript, the reason when it failed."""

    def on_progress(event: FileProgress) -> None:
        progress(event.fraction)

    try:
        speakers = speaker_request(options) if options is not None else None
        return Ending.DONE, await link.transcribe(audio, Priority.JOB, on_progress, cancel, vocabulary,
                                                  speakers=speakers), None
    except TranscriptionFailed as exc:
        if exc.outcome is Outcome.FAILED:
            return Ending.FAILED, None, "The audio " + str(exc) + "."
        if exc.outcome is Outcome.CANCELLED and link.state is not ServiceState.STOPPING:
            return Ending.CANCELLED, None, None
        return Ending.INTERRUPTED, None, "The service stopped before the job was done."
    except ApiError as exc:  # the service stopped or lost its model before the job began
        return Ending.INTERRUPTED, None, exc.message


class LocalJobs:
    """Jobs in this process: the book, and each job run on this engine as a task of its own."""

    def __init__(self, link: EngineLink, limit: int) -> None:
        self.link = link
        self.limit = limit
        self.book = JobBook()

    async def active(self) -> int:
        return self.book.active

    async def reserve(self) -> Reservation:
        return self.book.reserve(self.limit, self.link.compute_ratio)

    async def give_back(self, place: Reservation) -> None:
        self.book.give_back(place)

    async def add(self, place: Reservation, audio: AudioInput, options: TranscriptionOptions, phrases: RequestPhrases,
                  vocabulary: Vocabulary | None, warning: str | None) -> dict:
        job = self.book.add(place, audio.name, audio.duration, options)
        job.warning = warning

        def progress(fraction: float) -> None:
            job.status, job.progress = JobStatus.RUNNING, fraction

        async def run() -> None:
            try:
                ending, job.transcript, job.error = await run_on_engine(self.link, audio, vocabulary, job.cancel,
                                                                        progress, options)
                job.status = ending.status
                if ending is Ending.DONE:
                    job.progress = 1.0
            except asyncio.CancelledError:
                job.status = JobStatus.CANCELLED
            finally:
                job.finished = time.time()

        job.task = asyncio.create_task(run())
        return job.summary()

    def _job(self, job_id: str) -> Job:
        job = self.book.get(job_id)
        if job is None:
            raise not_found(job_id)
        return job

    async def summary(self, job_id: str) -> dict:
        return self._job(job_id).summary(result_document)

    async def listing(self) -> list[dict]:
        return [job.summary() for job in self.book.all()]

    async def cancel(self, job_id: str) -> dict:
        job = self._job(job_id)
        if job.status.active:
            job.cancel.set()
            if job.task is not None:
                job.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job.task
        return job.summary()
