"""What "scratch that" may take back: the texts dictation typed last, newest first, each with
the window it went to and the user's key count once our own keys had landed.

A text is taken back (with backspaces) only while nothing else could have changed the field
since: the same window has the focus, and the user pressed no key of their own. Where either
cannot be told (Wayland, no global key listener) that check is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

_KEPT = 10


@dataclass
class Typed:
    text: str  # exactly what was typed or pasted
    spacing: tuple  # the Spacer's state before it, to restore once it is taken back
    window: str | None
    keys: int | None = None  # the user's key count after our keys landed (None: not yet / unknown)


class TakeBack:
    def __init__(self) -> None:
        self._typed: list[Typed] = []

    def typed(self, entry: Typed, keys: int | None) -> None:
        """*entry* is being typed; *keys* is the user's key count just before. Texts before a
        change of window or the user's own typing can no longer be taken back."""
        last = self._typed[-1] if self._typed else None
        if last is not None and ((keys is not None and last.keys is not None and keys > last.keys)
                                 or entry.window != last.window):
            self._typed.clear()
        self._typed = (self._typed + [entry])[-_KEPT:]

    def settled(self, keys: int | None) -> None:
        """Our own keys (a paste, backspaces) have landed: user keys are counted from *keys*."""
        for entry in self._typed:
            entry.keys = keys

    def forget(self) -> None:
        """The field changed in a way that cannot be taken back (Enter, Tab): nothing before."""
        self._typed.clear()

    def take(self, window: str | None, keys: int | None) -> tuple[Typed | None, str | None]:
        """The last typed text, to remove now, or why nothing may be removed."""
        if not self._typed:
            return None, "“Scratch that” found nothing to remove: no dictated text is waiting to be taken back."
        last = self._typed[-1]
        if last.window is not None and window is not None and window != last.window:
            self._typed.clear()
            return None, ("“Scratch that” removed nothing: the focus moved to another window since "
                          "that text was typed.")
        if last.keys is not None and keys is not None and keys > last.keys:
            self._typed.clear()
            return None, ("“Scratch that” removed nothing: you typed since that text was dictated, "
                          "and removing it could remove your typing too.")
        self._typed.pop()
        return last, None
