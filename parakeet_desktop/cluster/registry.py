"""The cluster's jobs, where every replica reaches them: one small deployment (no CPU, no model)
that keeps the job book, each job's audio in Ray's object store, and which replica runs what.

A replica that accepts ``POST /v1/jobs`` hands the decoded audio over here and answers at once;
whichever replica is free claims the job (a long poll), runs it on its engine and reports its
progress, which also renews its lease on the job. A replica that stops reporting (its process
died, its node went away) loses the job when the lease runs out: it goes back to the queue and
runs again elsewhere, from the start, up to ``attempts`` times, then fails with the reason. A
replica that is being drained hands its job back at once, without it counting as an attempt.

The registry also hears each replica's figures (device, queue, streams) with every claim and
report, and answers the cluster's view for ``/health``. Its own state is in its memory: if the
registry itself is restarted, the jobs it held are lost (their clients get 404).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from dataclasses import dataclass, field

from ..service.jobs import Job, JobBook, JobStatus, Reservation, result_document
from ..service.options import TranscriptionOptions

# A replica's figures are dropped from the cluster's view this long after its last report.
REPORT_STALE_SECONDS = 15.0
# A reservation whose upload never arrived (its replica died while reading it) expires.
RESERVATION_SECONDS = 600.0


@dataclass(eq=False)
class _Work:
    """What it takes to run a job again: its audio (in the object store) and phrases; who runs
    it now, which attempt that is, and when it last said so."""

    audio: object  # a ray.ObjectRef to the samples
    phrases: tuple[str, ...]
    owner: str | None = None
    attempt: int = 0
    beat: float = field(default_factory=time.monotonic)


class JobRegistry:
    """The job book of the cluster. *store* puts a job's samples where every replica reaches
    them and gives back what a replica passes to ``ray.get``: Ray's ``put`` unless given (a test
    of the book alone keeps them in memory)."""

    def __init__(self, limit: int, attempts: int, lease_seconds: float, store=None) -> None:
        self.store = store
        self.limit = limit
        self.attempts = attempts
        self.lease = lease_seconds
        self.book = JobBook()
        self.work: dict[str, _Work] = {}
        self.places: dict[str, tuple[Reservation, float]] = {}
        self.reports: dict[str, tuple[float, dict]] = {}
        self.arrived = asyncio.Condition()

    # --- for the routes (through any replica) ---------------------------------------------------

    async def reserve(self, compute_ratio: float) -> dict:
        """A place for one more job, or what a client turned away is told: ``{"place": id}`` or
        ``{"busy": message, "retry_after": seconds}``."""
        self._expire()
        from ..service.errors import ApiError

        try:
            reservation = self.book.reserve(self.limit, compute_ratio)
        except ApiError as exc:
            return {"busy": exc.message, "retry_after": exc.retry_after}
        place = secrets.token_hex(8)
        self.places[place] = (reservation, time.monotonic())
        return {"place": place}

    async def give_back(self, place: str) -> None:
        held = self.places.pop(place, None)
        if held is not None:
            self.book.give_back(held[0])

    async def add(self, place: str, name: str, duration: float, options: TranscriptionOptions, warning: str | None,
                  phrases: tuple[str, ...], samples) -> dict:
        if self.store is None:
            import ray

            self.store = ray.put
        held = self.places.pop(place, None)
        job = self.book.add(held[0] if held else Reservation(), name, duration, options)
        job.warning = warning
        self.work[job.id] = _Work(self.store(samples), tuple(phrases))
        async with self.arrived:
            self.arrived.notify_all()
        return job.summary()

    async def summary(self, job_id: str) -> dict | None:
        self._expire()
        job = self.book.get(job_id)
        return self._summary(job, result_document) if job is not None else None

    async def listing(self) -> list[dict]:
        self._expire()
        return [self._summary(job) for job in self.book.all()]

    async def cancel(self, job_id: str) -> dict | None:
        """Cancelled at once here; the replica running it hears so with its next report."""
        job = self.book.get(job_id)
        if job is None:
            return None
        if job.status.active:
            self._end(job, JobStatus.CANCELLED)
        return job.summary()

    async def active(self) -> int:
        self._expire()
        return self.book.active

    # --- for the replicas' workers ----------------------------------------------------------------

    async def claim(self, replica: str, report: dict, wait: float) -> tuple | None:
        """The oldest queued job for *replica* to run, waiting up to *wait* seconds for one:
        ``(id, attempt, name, options, phrases, [audio ref])``, or None."""
        self.reports[replica] = (time.monotonic(), report)
        deadline = time.monotonic() + wait
        async with self.arrived:
            while True:
                self._expire()
                job = next((j for j in self.book.all() if j.status is JobStatus.QUEUED and j.id in self.work), None)
                if job is not None:
                    work = self.work[job.id]
                    work.owner, work.attempt, work.beat = replica, work.attempt + 1, time.monotonic()
                    job.status, job.progress = JobStatus.RUNNING, 0.0
                    return job.id, work.attempt, job.file, job.options, work.phrases, [work.audio]
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.arrived.wait(), min(left, 1.0))

    async def progress(self, job_id: str, attempt: int, fraction: float, replica: str, report: dict) -> bool:
        """A running job's progress, which renews its lease; False: stop it (it was cancelled,
        or given to another replica after this one went quiet for too long)."""
        self.reports[replica] = (time.monotonic(), report)
        current = self._current(job_id, attempt)
        if current is None:
            return False
        job, work = current
        work.beat = time.monotonic()
        job.progress = max(0.0, min(1.0, fraction))
        return True

    async def finish(self, job_id: str, attempt: int, status: str, transcript, error: str | None) -> None:
        current = self._current(job_id, attempt)
        if current is None:
            return  # cancelled meanwhile, or run again elsewhere: this answer is not wanted
        job, _ = current
        job.transcript, job.error = transcript, error
        if JobStatus(status) is JobStatus.COMPLETED:
            job.progress = 1.0
        self._end(job, JobStatus(status))

    async def hand_back(self, job_id: str, attempt: int) -> None:
        """A draining replica gives its job back: queued again, the attempt not counted."""
        current = self._current(job_id, attempt)
        if current is not None:
            job, work = current
            work.owner, work.attempt = None, work.attempt - 1
            job.status, job.progress = JobStatus.QUEUED, 0.0
            async with self.arrived:
                self.arrived.notify_all()

    async def cluster_view(self) -> dict:
        now = time.monotonic()
        self.reports = {r: (t, report) for r, (t, report) in self.reports.items() if now - t < REPORT_STALE_SECONDS}
        return {"replicas": [{"replica": replica, **report} for replica, (_, report) in sorted(self.reports.items())],
                "jobs": self.book.active}

    # --- inside -----------------------------------------------------------------------------------

    def _current(self, job_id: str, attempt: int) -> tuple[Job, _Work] | None:
        """The job and its work while *attempt* is the one running it; None once it was
        cancelled, finished, or given to another replica."""
        job, work = self.book.get(job_id), self.work.get(job_id)
        if job is None or work is None or work.attempt != attempt or not job.status.active:
            return None
        return job, work

    def _summary(self, job: Job, result=None) -> dict:
        """The job as ``serve`` shows it, and the replica running it and the attempt, while it runs."""
        document = job.summary(result)
        work = self.work.get(job.id)
        if work is not None and work.owner is not None:
            document |= {"replica": work.owner, "attempt": work.attempt}
        return document

    def _end(self, job: Job, status: JobStatus) -> None:
        job.status, job.finished = status, time.time()
        self.work.pop(job.id, None)  # its audio leaves the object store

    def _expire(self) -> None:
        """Jobs whose replica went quiet go back to the queue (or fail, past the attempts);
        reservations whose upload never came are given back."""
        now = time.monotonic()
        for job_id, work in list(self.work.items()):
            job = self.book.get(job_id)
            if job is None:
                self.work.pop(job_id)
            elif job.status is JobStatus.RUNNING and now - work.beat > self.lease:
                if work.attempt >= self.attempts:
                    job.error = (f"The job was given up: the replica running it stopped answering, "
                                 f"{work.attempt} times.")
                    self._end(job, JobStatus.FAILED)
                else:
                    work.owner = None
                    job.status, job.progress = JobStatus.QUEUED, 0.0
        for place, (reservation, taken) in list(self.places.items()):
            if now - taken > RESERVATION_SECONDS:
                del self.places[place]
                self.book.give_back(reservation)

