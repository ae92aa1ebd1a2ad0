"""The app's own state: one enum that every view (tray icon and tooltip, menu, control window,
overlay messages, the `status` command) maps to its own look and words."""

from __future__ import annotations

import enum


class AppState(enum.StrEnum):
    LOADING = "loading"  # the model is being downloaded, chosen or loaded
    READY = "ready"
    RESTING = "resting"  # ready, with the GPU's memory given back while idle; dictation wakes it
    LISTENING = "listening"
    FINISHING = "finishing"  # the key is released; the last words are being recognised
    ERROR = "error"  # no model, or no microphone: dictation cannot work until it is mended

    @property
    def label(self) -> str:
        """The state in a few words, as the tray tooltip and the control window say it."""
        return _TITLES[self]

    @property
    def idle(self) -> bool:
        """Ready for the hotkey, nothing being dictated or finished (the model may be resting)."""
        return self in (AppState.READY, AppState.RESTING)

    @property
    def can_dictate(self) -> bool:
        """Whether "Start dictation" (or "Stop dictation") can work now."""
        return self.idle or self is AppState.LISTENING


_TITLES = {
    AppState.LOADING: "Loading the model…",
    AppState.READY: "Ready",
    AppState.RESTING: "Resting (GPU memory freed)",
    AppState.LISTENING: "Listening",
    AppState.FINISHING: "Finishing the text…",
    AppState.ERROR: "Needs attention",
}
