"""The engine's plain enums: dictation modes, session states and the choices its settings take
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


class Device(enum.StrEnum):
    AUTO = "auto"
    CUDA = "cuda"
    CPU = "cpu"
    CPU_INT8 = "cpu-int8"  # the CPU, the encoder's matrix products in int8 (engine/model/quantize.py)


class Latency(enum.StrEnum):
    """The live captions' streaming chunk and right context (engine/recognize/streaming.py)."""

    FAST = "fast"
    BALANCED = "balanced"
    ACCURATE = "accurate"


class FinalPass(enum.StrEnum):
    """Whether the final text comes from one full-context pass over the whole utterance."""

    AUTO = "auto"  # on a GPU, or when the utterance fits in one streaming buffer anyway
    ALWAYS = "always"
    NEVER = "never"  # the streamed text alone
