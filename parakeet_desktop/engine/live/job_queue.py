"""The file jobs the live engine has been handed, and the order it runs them in.

Jobs wait in the order they came within a priority (requests a client waits for before long
jobs). A job in progress pauses between its batches for work that should not wait for it: a more
urgent job, or one of its priority under half as long as what is left of it (a 3 s request beside
an hour-long file). Such work may run inside the pause of another, so the jobs in progress form a
stack, the innermost last. When such work arrives from another thread, :attr:`JobQueue.ahead` is
set, and the batch in flight stops at the encoder's next layer to let it through.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .work import FileJob


@dataclass
class Running:
    """A file job in progress, and how much of its audio is left (when its length is known)."""

    job: FileJob
    remaining: float | None


def goes_before(job: FileJob, running: Running) -> bool:
    """Whether *job* should run before the rest of *running*: it is more urgent, or of the same
    priority and under half as long as what is left (so two of similar length do not take turns
    back and forth)."""
    if job.priority != running.job.priority:
        return job.priority < running.job.priority
    return job.seconds is not None and running.remaining is not None and job.seconds < running.remaining / 2


class JobQueue:
    """Waiting and running file jobs. Only the engine thread changes them; :meth:`announce` may
    be called from any thread."""

    def __init__(self) -> None:
        self._waiting: list[FileJob] = []
        self._running: list[Running] = []
        # Set when work arrives that should not wait for the file batch in flight (more urgent,
        # or much shorter at the same priority): the batch stops, and runs again after it.
        self.ahead = threading.Event()

    def announce(self, job: FileJob) -> None:
        """*job* is on its way to the engine: stop the batch in flight if it should go first.
        The jobs in progress are read across threads, so this is only a hint: the engine thread
        decides again what runs (:meth:`take`)."""
        if any(goes_before(job, running) for running in list(self._running)):
            self.ahead.set()

    def add(self, job: FileJob) -> None:
        self._waiting.append(job)

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def take(self, ahead_of: Running | None = None) -> FileJob | None:
        """The first of the most urgent waiting jobs; with *ahead_of*, only one that goes before
        the rest of that job (the shortest of those)."""
        if ahead_of is None:  # in the order they came, within a priority
            job = min(self._waiting, key=lambda j: j.priority, default=None)
        else:
            job = min((j for j in self._waiting if goes_before(j, ahead_of)),
                      key=lambda j: (j.priority, j.seconds or 0.0), default=None)
        if job is not None:
            self._waiting.remove(job)
        return job

    def take_all(self) -> list[FileJob]:
        jobs, self._waiting = self._waiting, []
        return jobs

    @contextmanager
    def running(self, job: FileJob) -> Iterator[Running]:
        """*job* is in progress while the block runs; its ``remaining`` is kept up to date there."""
        running = Running(job, job.seconds)
        self._running.append(running)
        try:
            yield running
        finally:
            self._running.remove(running)
