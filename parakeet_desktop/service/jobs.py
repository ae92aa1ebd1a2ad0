"""Long files as jobs: ``POST /v1/jobs`` answers an id at once, the file is recognised in the
background at the lowest priority, and ``GET /v1/jobs/{id}`` shows its progress, then its
result. Finished jobs are kept for an hour (at most ``keep`` of them) for their client to fetch.

A place is taken before the upload is read (:meth:`JobBook.reserve`) and given back if the upload
fails, so the limit holds however many posts arrive at once.
"""

from __future__ import annotations

import asyncio
import enum
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..engine.transcript import Transcript
from .errors import ApiError

KEEP_SECONDS = 3600.0


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
    options: dict
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

    def add(self, reservation: Reservation, file: str, duration: float, options: dict) -> Job:
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
        """Seconds of work ahead: the active jobs' audio left, at *compute_ratio* (link.py)."""
        return sum(job.duration * (1 - job.progress) for job in self._jobs.values() if job.status.active) \
            * compute_ratio

    def _forget_old(self) -> None:
        now = time.time()
        finished = sorted((j for j in self._jobs.values() if j.finished is not None), key=lambda j: j.finished or 0.0)
        for job in finished:
            if now - (job.finished or now) > KEEP_SECONDS or len(self._jobs) >= self.keep:
                del self._jobs[job.id]
