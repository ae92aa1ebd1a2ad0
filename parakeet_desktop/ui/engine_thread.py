"""The engine thread: a QThread that loads the model and runs the live engine's loop.

Heavy imports (torch, NeMo) and the model load happen here, after the tray icon is up. Engine
events leave as Qt signals (queued to the GUI thread); commands go the other way through the
live engine's thread-safe inbox.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, Signal

from ..engine.live import Event, FileDone, Mode, Notice
from ..settings import Settings, data_dir

if TYPE_CHECKING:
    from ..engine.live import FileJob, LiveEngine

logger = logging.getLogger(__name__)


class EngineWorker(QObject):
    """Loads the model and runs the live engine on its thread. The engine's events leave as one
    signal carrying each typed event as it was emitted (engine.live.Event): the app matches on
    them, so an event it does not handle is a type error there."""

    loading = Signal(str)  # model name
    download_progress = Signal(object, object)  # bytes done, bytes in all (None: not known)
    ready = Signal(str, str)  # model name, device
    failed = Signal(str, bool)  # why the engine is not running; True: the model could not be had
    engine_event = Signal(object)  # an engine.live.Event (not "event": QObject.event is a virtual of its own)

    def __init__(self, settings: Settings, sd=None) -> None:
        super().__init__()
        self.settings = settings
        self._sd = sd
        self.engine: LiveEngine | None = None
        self.model_name = settings.model
        self.jobs: dict[int, FileJob] = {}
        self.cancel_download = threading.Event()  # set from the GUI: the model download stops

    def run(self) -> None:
        """The thread's body: load, then serve the live engine until shutdown."""
        from ..engine.model import ModelError, load_model

        self.loading.emit(self.settings.model)
        try:
            model = load_model(self.settings.model, self.settings.device, cancel=self.cancel_download,
                               boosting=self.settings.phrase_boosting,
                               progress=lambda done, total: self.download_progress.emit(done, total))
        except ModelError as exc:
            self.failed.emit(str(exc), True)
            return
        except Exception as exc:  # out of memory, a broken install: say it, do not die silently
            logger.exception("Loading the model failed")
            self.failed.emit(f"The model could not be loaded: {exc}", True)
            return
        from ..engine.live import LiveEngine

        self.model_name = model.name
        for text in model.notices:
            self.engine_event.emit(Notice(text))
        try:
            engine = LiveEngine(model, live_settings(self.settings), self._emit,
                                device_name=self.settings.microphone, sd=self._sd)
        except Exception as exc:  # say why, rather than "loading" for ever
            logger.exception("The engine could not start")
            self.failed.emit(f"Dictation could not start: {exc}", False)
            return
        self.engine = engine
        self.ready.emit(model.name, model.device)
        try:
            engine.run()
        except Exception as exc:
            logger.exception("The engine stopped")
            self.engine = None
            self.failed.emit(f"Dictation stopped after an error: {exc}. Restart the app; what you "
                             "dictated before is in the history.", False)

    # Dictation commands, from any thread; each is False while the model loads (or failed).

    def start(self, mode: Mode) -> bool:
        return self._tell(lambda engine: engine.start(mode))

    def stop(self) -> bool:
        return self._tell(lambda engine: engine.stop())

    def toggle(self, mode: Mode) -> bool:
        return self._tell(lambda engine: engine.toggle(mode))

    def continue_hands_free(self) -> bool:
        return self._tell(lambda engine: engine.continue_hands_free())

    def shutdown(self) -> bool:
        return self._tell(lambda engine: engine.shutdown())

    def _tell(self, command: Callable[[LiveEngine], None]) -> bool:
        engine = self.engine
        if engine is None:
            return False
        command(engine)
        return True

    def transcribe_files(self, paths: list[Path], speakers=None) -> list[int] | None:
        """One job per file (so each can be cancelled alone), with *speakers* (an
        engine.speakers.SpeakerRequest) when asked for; None while the model loads."""
        from ..engine.live import FileJob

        engine = self.engine
        if engine is None:
            return None
        jobs = [FileJob([path], speakers=speakers) for path in paths]
        for job in jobs:
            engine.submit(job)
        self.jobs.update((job.id, job) for job in jobs)
        return [job.id for job in jobs]

    def transcribe_audio(self, inputs: list) -> int | None:
        """One job of decoded audio (engine.files.AudioInput), reported under each input's name;
        None while the model loads."""
        from ..engine.live import FileJob

        engine = self.engine
        if engine is None:
            return None
        job = FileJob(list(inputs))
        engine.submit(job)
        self.jobs[job.id] = job
        return job.id

    def cancel_job(self, job_id: int) -> None:
        job = self.jobs.get(job_id)
        if job is not None:
            job.cancel.set()

    def reconfigure(self, settings: Settings) -> bool:
        """Apply settings that need no new model (speech gate, latency, final pass, microphone);
        nothing happens when none of those changed."""
        engine = self.engine
        if engine is None:
            return False
        old, self.settings = self.settings, settings
        if (live_settings(settings), settings.microphone) != (live_settings(old), old.microphone):
            engine.reconfigure(live_settings(settings), settings.microphone)
        return True

    def _emit(self, event: Event) -> None:
        if isinstance(event, FileDone):
            self.jobs.pop(event.job, None)
        self.engine_event.emit(event)


def live_settings(settings: Settings):
    from ..engine.audio import GateConfig
    from ..engine.live import FinalPass, LiveSettings
    from ..engine.recognize import StreamingChoice, Vocabulary, clean_phrases

    gate = GateConfig(aggressiveness=settings.vad_aggressiveness, endpoint_ms=settings.pause_ms,
                      hangover_ms=min(300, settings.pause_ms))
    from .sounds import START_HZ, START_TONE_SECONDS

    return LiveSettings(gate=gate, streaming=StreamingChoice(latency=settings.latency),
                        final_pass=FinalPass(settings.final_pass),
                        rescue_dir=Path(data_dir()) / "unrecognised", spool_dir=spool_dir(),
                        start_tone_seconds=START_TONE_SECONDS if settings.sounds else 0.0, start_tone_hz=START_HZ,
                        vocabulary=Vocabulary(clean_phrases(settings.vocabulary), settings.vocabulary_strength),
                        rest_after_seconds=settings.free_gpu_after_minutes * 60.0 or None,
                        diarization_model=settings.diarization_model, speaker_model=settings.speaker_model)


def spool_dir() -> Path:
    return Path(data_dir()) / "spool"


class EngineThread(QThread):
    """Runs an EngineWorker's ``run`` on its own thread."""

    def __init__(self, worker: EngineWorker) -> None:
        super().__init__()
        self.worker = worker
        worker.moveToThread(self)

    def run(self) -> None:
        self.worker.run()

    def shutdown(self, wait_ms: int = 10000) -> bool:
        self.worker.shutdown()
        return self.wait(wait_ms)
