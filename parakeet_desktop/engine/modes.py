"""The dictation modes and session states: plain enums, importable without numpy or torch (the
desktop app compares them on its GUI thread from its first moment, before the engine exists)."""

from __future__ import annotations

import enum


class Mode(enum.StrEnum):
    """How the hotkey works; the value is what the settings file keeps."""

    PUSH_TO_TALK = "ptt"
    HANDS_FREE = "handsfree"


class SessionState(enum.StrEnum):
    IDLE = "idle"
    LISTENING = "listening"
    FINALISING = "finalising"
