"""Long files as jobs: ``POST /v1/jobs`` answers an id at once, the file is recognised in the
background at the lowest priority, and ``GET /v1/jobs/{id}`` shows its progress, then its
result. Finished jobs are kept for an hour (at most ``keep`` of them) for their client to fetch."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..engine.transcript import Transcript

KEEP_SECONDS = 3600.0


@dataclass
class Job:
    id: str
    file: str
    duration: float
    options: dict
    status: str = "queued"  # queued, running, completed, failed, cancelled
    progress: float = 0.0
    created: float = field(default_factory=time.time)
    finished: float | None = None
    transcript: Transcript | None = None
    error: str | None = None
    warning: str | None = None  # why the request's keywords were not used, if so
    cancel: threading.Event = field(default_factory=threading.Event)
    task: asyncio.Task | None = None

    def summary(self, result: Callable[[Job], dict] | None = None) -> dict:
        document = {"id": self.id, "object": "transcription.job", "status": self.status,
                    "file": self.file, "duration": round(self.duration, 3),
                    "progress": round(self.progress, 3), "created_at": int(self.created)}
        if self.error is not None:
            document["error"] = {"message": self.error}
        if self.warning is not None:
            document["warning"] = self.warning
        if self.status == "completed" and result is not None:
            document["result"] = result(self)
        return document


class JobBook:
    def __init__(self, keep: int = 100) -> None:
        self.keep = keep
        self._jobs: dict[str, Job] = {}

    def add(self, file: str, duration: float, options: dict) -> Job:
        self._forget_old()
        job = Job(f"job_{secrets.token_hex(8)}", file, duration, options)
        self._jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        return list(self._jobs.values())

    @property
    def active(self) -> int:
        return sum(job.status in ("queued", "running") for job in self._jobs.values())

    def _forget_old(self) -> None:
        now = time.time()
        finished = sorted((j for j in self._jobs.values() if j.finished is not None), key=lambda j: j.finished)
        for job in finished:
            if now - job.finished > KEEP_SECONDS or len(self._jobs) >= self.keep:
                del self._jobs[job.id]
