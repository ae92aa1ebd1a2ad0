"""Final texts to the focused window: the user's replacements, spacing between utterances, the
history first (so nothing is lost), then injection; and "copy last" / "paste last"."""

from __future__ import annotations

from PySide6.QtCore import QTimer

from ..config import Settings, data_dir
from ..desktop.inject import Delivery, Injector, Spacer
from ..engine.transcript import replace_phrases
from ..history import History, HistoryError
from .clipboard import QtClipboard


class TextDelivery:
    def __init__(self, settings: Settings, history: History, keyboard) -> None:
        self.history = history
        self.clipboard = QtClipboard(rescue=data_dir() / "clipboard-during-paste.json")
        self.keyboard = keyboard
        self.last_text: str | None = None
        self.last_entry: int | None = None  # the history entry of the last final, when it has one
        self.replacements = settings.replacements
        self.spacer = Spacer(settings.trailing_space)
        self._injection = settings.injection
        self.injector = self._injector()

    def _injector(self) -> Injector:
        return Injector(self._injection, self.clipboard, self.keyboard, lambda ms, fn: QTimer.singleShot(ms, fn))

    def configure(self, settings: Settings) -> None:
        """Changed settings take effect for the next text."""
        self.replacements = settings.replacements
        self.spacer.trailing_space = settings.trailing_space
        if settings.injection != self._injection:
            self._injection = settings.injection
            self.injector = self._injector()

    def final(self, text: str, seconds: float, model: str) -> tuple[str, Delivery | None, str | None]:
        """The text as written (after replacements), how typing it went (None: nothing to type)
        and why it is not in the history, if it is not. It is in the history before anything
        else can go wrong; a history that cannot take it (a full disk) does not stop it: the text
        is still typed, and kept here for "paste last"."""
        text = replace_phrases(text, self.replacements).strip()
        self.last_entry = None
        if not text:
            return "", None, None
        self.last_text = text
        try:
            entry = self.history.add(text, seconds, model)
        except HistoryError as exc:
            entry, unsaved = None, f"This text was typed but not saved: {exc}. “Paste last” still has it."
        else:
            unsaved = None
        self.last_entry = entry
        delivery = self.injector.deliver(self.spacer.join(text))
        if entry is not None:
            try:
                self.history.mark(entry, delivery.ok, delivery.problem)
            except HistoryError:
                pass  # the text is saved; only whether it was typed is not
        return text, delivery, unsaved

    def last(self) -> str | None:
        """The last dictated text, from this run or the history."""
        if self.last_text is None:
            try:
                entry = self.history.last()
            except HistoryError:
                entry = None
            self.last_text = entry.text if entry else None
        return self.last_text

    def paste_last(self) -> Delivery | None:
        text = self.last()
        return self.injector.deliver(self.spacer.join(text)) if text else None

    def copy_last(self) -> bool:
        text = self.last()
        if text:
            self.clipboard.set_text(text)
        return bool(text)
