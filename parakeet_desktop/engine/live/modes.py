"""The engine thread's plain enums: dictation modes, session states and the final pass
(importable without numpy or torch: the desktop app compares them on its GUI thread from its
first moment, before the engine exists, and the settings file is read with them)."""

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


class FinalPass(enum.StrEnum):
    """Whether the final text comes from one full-context pass over the whole utterance."""

    AUTO = "auto"  # on a GPU, or when the utterance fits in one streaming buffer anyway
    ALWAYS = "always"
    NEVER = "never"  # the streamed text alone
