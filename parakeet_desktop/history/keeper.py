"""The history and what hangs on it: the kept audio of each utterance, the utterances a crash
interrupted (recovered at start), the history window and its "transcribe again". One object, so
that the app holds one handle on the user's past words. Runs on the GUI thread; Qt-free (the
window is the app's, made by the *open_window* it is given)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from ..engine.live import FileDone
from ..engine.recognize import AudioInput, language_code_of, replace_phrases
from ..settings import Settings, data_dir
from .audio import AudioShelf
from .recovery import SpoolRecovery
from .store import History, HistoryError

_AGAIN = "history-again-"


class HistoryView(Protocol):
    """The history window, as the keeper uses it (ui/history_window.py)."""

    def show(self) -> None: ...
    def raise_(self) -> None: ...
    def isVisible(self) -> bool: ...  # noqa: N802 - Qt's name
    def refresh(self) -> None: ...
    def say(self, message: str, error: bool = False) -> None: ...
    def transcribed_again(self, entry_id: int, text: str | None, error: str | None) -> None: ...


# Makes the window for the history and its kept audio; its "transcribe again" calls the third.
OpenWindow = Callable[[History, AudioShelf, Callable[[int, np.ndarray], None]], HistoryView]


class HistoryKeeper:
    def __init__(self, settings: Settings, spool_folder: Path, transcribe_audio, open_window: OpenWindow) -> None:
        """*transcribe_audio(inputs)* hands decoded audio to the engine (None while it loads)."""
        self.history = History(data_dir() / "history.sqlite3")
        self.shelf = AudioShelf(data_dir() / "audio", self.history, settings.keep_audio, settings.keep_audio_mb)
        self.shelf.finish_pending(spool_folder)  # audio a quick quit left unwritten; what has expired goes
        self.recovery = SpoolRecovery(spool_folder, self.history, self.shelf.keep_spool)
        self.replacements = settings.replacements
        self.window: HistoryView | None = None
        self._open_window = open_window
        self._transcribe_audio = transcribe_audio
        self._again: set[int] = set()

    def configure(self, settings: Settings) -> None:
        self.replacements = settings.replacements
        if (settings.keep_audio, settings.keep_audio_mb) != (self.shelf.keep, self.shelf.max_mb):
            self.shelf.configure(settings.keep_audio, settings.keep_audio_mb)

    def engine_ready(self) -> None:
        """Transcribe what a crash left spooled (once a run)."""
        if not self.recovery.started and (inputs := self.recovery.start()):
            self._transcribe_audio(inputs)

    def saved(self, entry_id: int | None, spooled: Path | None) -> None:
        """A final text is in the history (*entry_id*; None: it had no words): keep its audio, or
        let the spool go."""
        if entry_id is None:
            from ..engine.audio import discard_spool

            discard_spool(spooled)
        else:
            self.shelf.keep_spool(entry_id, spooled)
        self.refresh()

    # --- file results for the history -----------------------------------------------------

    def owns(self, path: Path) -> bool:
        return self.recovery.owns(path) or path.name.startswith(_AGAIN)

    def file_done(self, done: FileDone, model: str) -> str | None:
        """A recovered utterance or a "transcribe again"; the notice for the user, if any."""
        path, transcript, error = done.path, done.transcript, done.error
        if done.outcome.cancelled:
            error = "the app stopped before it was done"
        if self.recovery.owns(path):
            return self.recovery.finished(path, transcript, error, model)
        entry_id = int(path.name[len(_AGAIN):])
        self._again.discard(entry_id)
        text = replace_phrases(transcript.text, self.replacements).strip() if transcript is not None else ""
        if transcript is not None and not text:
            error = "no words were heard in it; the text is unchanged"
        if error is None:
            try:
                self.history.set_text(entry_id, text, model, language_code_of(text, model))
            except HistoryError as exc:
                error = str(exc)
        if self.window is not None:
            self.window.transcribed_again(entry_id, text, error)
        return None

    def _transcribe_again(self, entry_id: int, samples: np.ndarray) -> None:
        if self.window is None:
            return
        if entry_id in self._again:
            self.window.say("It is being transcribed again already.")
        elif self._transcribe_audio([AudioInput(f"{_AGAIN}{entry_id}", samples)]) is None:
            self.window.say("The model is still loading; try again when it is ready.", error=True)
        else:
            self._again.add(entry_id)

    # --- the window -----------------------------------------------------------------------

    def show(self) -> HistoryView:
        if self.window is None:
            self.window = self._open_window(self.history, self.shelf, self._transcribe_again)
        self.window.show()
        self.window.raise_()
        return self.window

    def refresh(self) -> None:
        if self.window is not None and self.window.isVisible():
            self.window.refresh()

    def close(self, wait: bool = True) -> None:
        self.shelf.close(wait)
