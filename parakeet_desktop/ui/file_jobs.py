"""The file window's work on the engine: files dropped while the model loads wait for it, each
file is a job of its own (so it can be cancelled alone), and each file's progress and result go
to the window, unless the history owns the file (a recovered utterance, "transcribe again")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..engine.live import FileDone, FileProgress
from ..history.keeper import HistoryKeeper
from .engine_thread import EngineWorker
from .file_window import FileWindow


class FileJobs:
    def __init__(self, worker: Callable[[], EngineWorker], keeper: HistoryKeeper,
                 recovered: Callable[[str], None]) -> None:
        """*worker*: the engine's worker now (a new one after a model change); *recovered*: tells
        the person that the history has what a crash cut off."""
        self._worker = worker
        self._keeper = keeper
        self._recovered = recovered
        self._waiting: list[Path] = []
        self.window = FileWindow()
        self.window.transcribe.connect(self.transcribe)
        self.window.cancel.connect(self._cancel)

    def show(self) -> None:
        self.window.show()
        self.window.raise_()
        self.window.activateWindow()

    def transcribe(self, paths: list[Path]) -> None:
        jobs = self._worker().transcribe_files(paths, self.window.speakers.request())
        if jobs is None:  # the model is still loading: they start when it is ready
            self._waiting.extend(paths)
            return
        for path, job in zip(paths, jobs, strict=True):
            self.window.job_started([path], job)

    def engine_ready(self) -> None:
        if self._waiting:
            waiting, self._waiting = self._waiting, []
            self.transcribe(waiting)

    def progress(self, event: FileProgress) -> None:
        if not self._keeper.owns(event.path):
            self.window.progress(event.path, event.fraction)

    def done(self, event: FileDone) -> None:
        if not self._keeper.owns(event.path):
            self.window.finished(event.path, event.transcript, event.error, event.outcome)
        elif notice := self._keeper.file_done(event, self._worker().model_name):
            self._recovered(notice)

    def _cancel(self, job: int) -> None:
        self._worker().cancel_job(job)
