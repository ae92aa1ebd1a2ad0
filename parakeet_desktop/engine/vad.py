"""Voice activity detection with webrtcvad: which frames of 16 kHz audio hold speech."""

from __future__ import annotations

import numpy as np
import webrtcvad

from .audio import SAMPLE_RATE

FRAME_MS_CHOICES = (10, 20, 30)


def _pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def speech_frames(samples: np.ndarray, frame_ms: int = 30, aggressiveness: int = 2,
                  block_frames: int = 2000) -> np.ndarray:
    """One flag per whole frame of *samples*: True where webrtcvad hears speech.

    The audio is converted to 16-bit PCM a block of frames at a time, so an hour of audio never
    needs a second full-length copy.
    """
    if frame_ms not in FRAME_MS_CHOICES:
        raise ValueError(f"frame_ms must be one of {FRAME_MS_CHOICES}, not {frame_ms}")
    if not 0 <= aggressiveness <= 3:
        raise ValueError(f"aggressiveness must be 0-3, not {aggressiveness}")
    vad = webrtcvad.Vad(aggressiveness)
    frame = SAMPLE_RATE * frame_ms // 1000
    count = len(samples) // frame
    flags = np.zeros(count, dtype=bool)
    frame_bytes = frame * 2
    for first in range(0, count, block_frames):
        last = min(first + block_frames, count)
        pcm = _pcm16(samples[first * frame : last * frame])
        for i in range(last - first):
            flags[first + i] = vad.is_speech(pcm[i * frame_bytes : (i + 1) * frame_bytes], SAMPLE_RATE)
    return flags
