"""Final texts to the focused window: spoken commands, the user's replacements, spacing between
utterances, the history first (so nothing is lost), then injection; "scratch that"; and "copy
last" / "paste last". Qt-free: the app gives it the clipboard and a timer (*later*)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..engine.recognize import language_code_of, replace_phrases, warm_up
from ..history.store import History, HistoryError
from ..settings import Settings
from .inject import RESTORE_AFTER_MS, Clipboard, Delivery, Injector, Keyboard, Later, Spacer
from .routes import Desktop
from .spoken import BREAKS, KEYS, SpokenAction, SpokenCommand, split_spoken
from .take_back import TakeBack, Typed


class TextDelivery:
    def __init__(self, settings: Settings, history: History, keyboard: Keyboard | None, clipboard: Clipboard[Any],
                 later: Later, *, desktop: Desktop | None = None, portal_keyboard: Keyboard | None = None) -> None:
        """*later(ms, fn)* calls *fn* after *ms* milliseconds on this (the GUI) thread; *desktop*
        is what was found about the session, *portal_keyboard* keys through its portal."""
        self.history = history
        self.clipboard = clipboard
        self.keyboard = keyboard
        self.later = later
        self.desktop = desktop
        self.portal_keyboard = portal_keyboard
        # Told when a paste was not taken by the window (the app shows it).
        self.tell: Callable[[str], None] = lambda message: None
        self.last_text: str | None = None
        # The language identifier takes half a second to load: not on the first dictation's way.
        threading.Thread(target=warm_up, name="language-warm-up", daemon=True).start()
        self.last_entry: int | None = None  # the history entry of the last final, when it has one
        self.replacements = settings.replacements
        self.commands = settings.commands if settings.commands_enabled else []
        self.spacer = Spacer(settings.trailing_space)
        self._injection = settings.injection
        self._paste_keys = settings.paste_keys
        self.injector = self._injector()
        self.take_back = TakeBack()
        # The user's own key presses so far (None: they cannot be heard here); set by the app.
        self.keys_pressed: Callable[[], int | None] = lambda: None

    def _injector(self) -> Injector:
        injector = Injector(self._injection, self.clipboard, self.keyboard, self.later, desktop=self.desktop,
                            portal_keyboard=self.portal_keyboard, paste_keys=self._paste_keys)
        injector.not_taken = lambda message: self.tell(message)
        return injector

    def configure(self, settings: Settings) -> None:
        """Changed settings take effect for the next text."""
        self.replacements = settings.replacements
        self.commands = settings.commands if settings.commands_enabled else []
        self.spacer.trailing_space = settings.trailing_space
        if (settings.injection, settings.paste_keys) != (self._injection, self._paste_keys):
            self._injection, self._paste_keys = settings.injection, settings.paste_keys
            self.injector = self._injector()

    def final(self, text: str, seconds: float, model: str) -> tuple[str, Delivery | None, str | None]:
        """What was said (after replacements; the history keeps it, a command included), how
        typing it or doing its command went (None: nothing to do) and why it is not in the
        history, if it is not. It is in the history before anything else can go wrong; a
        history that cannot take it (a full disk) does not stop it: the text is still typed,
        and kept here for "paste last"."""
        command = split_spoken(text, self.commands) if self.commands else SpokenCommand(text)
        body = replace_phrases(command.text, self.replacements).strip()
        said = (body + text[len(command.text):].rstrip()).strip()  # the command as it was heard
        self.last_entry = None
        if not said:
            return "", None, None
        if body and command.action is not SpokenAction.SCRATCH:
            self.last_text = body
        unsaved: str | None = None
        try:
            entry = self.history.add(said, seconds, model, language=language_code_of(said, model))
        except HistoryError as exc:
            entry, unsaved = None, f"This text was typed but not saved: {exc}. “Paste last” still has it."
        self.last_entry = entry
        delivery = self._act(body, command.action)
        if entry is not None and delivery is not None:
            try:
                self.history.mark(entry, delivery.ok, delivery.problem)
            except HistoryError:
                pass  # the text is saved; only whether it was typed is not
        return said, delivery, unsaved

    def _act(self, body: str, action: SpokenAction | None) -> Delivery | None:
        if action is SpokenAction.SCRATCH:
            # Words before "scratch that" in the same utterance are what it scratches.
            return None if body else self._scratch()
        before = self.spacer.state()
        typed = self.spacer.join(body) if body else ""
        if action is not None:
            typed = typed.rstrip(" ")  # no trailing space before a line break, Enter or Tab
        if action in BREAKS:
            typed += BREAKS[action]
            self.spacer.reset()  # a new line starts without a space
        delivery = None
        if typed:
            self.take_back.typed(Typed(typed, before, self.injector.current_window()), self.keys_pressed())
            delivery = self.injector.deliver(typed)
            if not delivery.ok:
                self.take_back.forget()  # not in the field (on the clipboard): nothing to take back
        if action in KEYS and (delivery is None or delivery.ok):
            delivery = self.injector.press(KEYS[action])
            self.take_back.forget()  # Enter may have sent it, Tab moved on: nothing to take back
            self.spacer.reset()
        self._settle_later()
        return delivery

    def _scratch(self) -> Delivery:
        typed, why = self.take_back.take(self.injector.current_window(), self.keys_pressed())
        if typed is None:
            return Delivery(False, self.injector.method, why, scratch=True)
        delivery = self.injector.press("backspace", len(typed.text))
        if delivery.ok:
            self.spacer.restore(typed.spacing)
            self._settle_later()
            return Delivery(True, self.injector.method, scratch=True)
        self.take_back.forget()
        return Delivery(False, self.injector.method, f"“Scratch that” could not remove the text: {delivery.problem}",
                        scratch=True)

    def _settle_later(self) -> None:
        """Once our keys have landed (the paste is fetched), key presses counted are the user's."""
        self.later(RESTORE_AFTER_MS + 200, lambda: self.take_back.settled(self.keys_pressed()))

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
