"""Short start and stop tones, played through the default output without blocking."""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)
RATE = 24000


def _tone(frequencies: tuple[float, ...], seconds: float = 0.07) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    envelope = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)
    parts = [0.2 * envelope * np.sin(2 * np.pi * f * t) for f in frequencies]
    return np.concatenate(parts).astype(np.float32)


START_HZ = (660.0, 880.0)
START = _tone(START_HZ)
STOP = _tone((880.0, 660.0))
# How long the microphone may hear the start tone after listening starts: the tone, the sound
# system's output latency and the room's echo. Dictation filters its frequencies out for that
# long (dictation.py).
START_TONE_SECONDS = len(START) / RATE + 0.4


def play(samples: np.ndarray) -> None:
    try:
        import sounddevice

        sounddevice.play(samples, RATE)
    except Exception as exc:  # no output device, PortAudio missing: a missing beep is no error
        logger.debug("Cannot play a tone: %s", exc)
