"""Utterances a crash interrupted: the spooled audio of a run that ended before their text was
saved (engine/audio/spool.py) is transcribed at the next start and put in the history as recovered,
never typed anywhere (the window it was meant for is gone). Qt-free; the app drives it."""

from __future__ import annotations

import logging
from pathlib import Path

from ..engine.audio import discard_spool, read_spool, spool_leftovers
from ..engine.recognize import AudioInput, language_code_of
from .store import History, HistoryError

logger = logging.getLogger(__name__)

# Shorter than this (0.1 s), a spool holds nothing anyone said.
_MIN_SAMPLES = 1600


class SpoolRecovery:
    def __init__(self, folder: Path, history: History, keep_audio=None) -> None:
        """*keep_audio(entry_id, spool_path)* keeps a recovered utterance's audio and removes
        its spool (audio.AudioShelf.keep_spool); without it the spool is removed."""
        self.folder = folder
        self.history = history
        self.keep_audio = keep_audio or (lambda _entry, path: discard_spool(path))
        self.started = False
        self._paths: dict[str, Path] = {}  # by the name their results come under
        self._waiting: set[str] = set()
        self._saved = 0

    def start(self) -> list[AudioInput]:
        """The leftover utterances to transcribe (once per run; empty ones are removed)."""
        self.started = True
        inputs = []
        for path in spool_leftovers(self.folder):
            try:
                samples = read_spool(path)
            except OSError as exc:
                logger.warning("Cannot read %s: %s", path, exc)
                continue
            if len(samples) < _MIN_SAMPLES:
                discard_spool(path)
                continue
            inputs.append(AudioInput(path.name, samples))
            self._paths[path.name] = path
        self._waiting = set(self._paths)
        return inputs

    def owns(self, path: Path) -> bool:
        """Whether a file result or progress report is one of these (a last progress report
        may come after the result)."""
        return path.name in self._paths

    def finished(self, path: Path, transcript, error: str | None, model: str) -> str | None:
        """Keep a recovered text; the notice for the user once the last one is done."""
        spooled = self._paths[path.name]
        self._waiting.discard(path.name)
        text = transcript.text.strip() if transcript is not None else ""
        if transcript is None:
            logger.warning("A spooled utterance could not be recognised: %s", error)
        elif not text:
            discard_spool(spooled)  # no words in it
        else:
            try:
                entry = self.history.add(text, transcript.duration, model, created=spooled.stat().st_mtime,
                                         language=language_code_of(text, model))
                self.history.mark(entry, False, "recovered: the app stopped before this text was saved")
            except (HistoryError, OSError) as exc:
                logger.warning("A recovered utterance could not be saved: %s", exc)
            else:
                self._saved += 1
                self.keep_audio(entry, spooled)
        if self._waiting or not self._saved:
            return None
        what, verb = ("1 utterance", "is") if self._saved == 1 else (f"{self._saved} utterances", "are")
        return f"{what} from when the app stopped unexpectedly {verb} in the history (not typed anywhere)."
