"""The live captions' latency presets: a plain enum, importable without numpy (the settings are
read with it before anything else)."""

from __future__ import annotations

import enum


class Latency(enum.StrEnum):
    """The live captions' streaming chunk and right context (streaming.py), or a cache-aware
    model's step (cache_aware.py)."""

    FAST = "fast"
    BALANCED = "balanced"
    ACCURATE = "accurate"
