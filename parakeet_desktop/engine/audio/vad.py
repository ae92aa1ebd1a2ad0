"""Voice activity detection with webrtcvad: which frames of 16 kHz audio hold speech, and the
live speech gate that decides what reaches the recogniser."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import webrtcvad

from .decode import SAMPLE_RATE

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


@dataclass(frozen=True)
class GateConfig:
    """How the speech gate decides what reaches the model (times in milliseconds)."""

    aggressiveness: int = 2
    frame_ms: int = 30
    # Audio kept from before speech is detected, so a soft first syllable is not cut.
    pre_roll_ms: int = 300
    # Audio kept after speech stops, so a trailing consonant is not cut; shorter pauses inside
    # speech pass through whole.
    hangover_ms: int = 300
    # Voiced frames needed (within a pre-roll's span) before the gate opens: clicks stay out.
    min_speech_ms: int = 90
    # A pause this long ends the utterance (hands-free mode).
    endpoint_ms: int = 800

    def __post_init__(self) -> None:
        if self.frame_ms not in FRAME_MS_CHOICES:
            raise ValueError(f"frame_ms must be one of {FRAME_MS_CHOICES}, not {self.frame_ms}")
        if not 0 <= self.aggressiveness <= 3:
            raise ValueError(f"aggressiveness must be 0-3, not {self.aggressiveness}")
        if self.hangover_ms > self.endpoint_ms:
            raise ValueError("the hang-over cannot be longer than the pause that ends an utterance")


# A frame counts as speech only this far above the background level (tracked over frames
# webrtcvad calls non-speech: down at once, up slowly) and above digital near-silence.
_ABOVE_FLOOR_DB = 6.0
_FLOOR_RISE = 0.05
_SILENT_DB = -70.0


@dataclass(frozen=True)
class Speech:
    """Audio that goes on to the recogniser."""

    samples: np.ndarray


@dataclass(frozen=True)
class Endpoint:
    """The speaker paused long enough to end the utterance."""


class SpeechGate:
    """Pass speech (with pre-roll and hang-over) and hold back silence; report endpoints.

    Pure and deterministic: push 16 kHz samples in blocks of any size and get back, in order,
    :class:`Speech` pieces and :class:`Endpoint` marks. Pauses inside an utterance longer than
    the hang-over are shortened to at most hang-over plus pre-roll. ``positions`` keeps, for
    every frame passed so far, its frame number in the input, so times in the passed speech can
    be turned back into times in the input (:meth:`input_seconds`).
    """

    def __init__(self, config: GateConfig = GateConfig()) -> None:
        self.config = config
        self._vad = webrtcvad.Vad(config.aggressiveness)
        self._frame = SAMPLE_RATE * config.frame_ms // 1000
        self._pre_roll = max(1, config.pre_roll_ms // config.frame_ms)
        self._hangover = max(1, config.hangover_ms // config.frame_ms)
        self._min_speech = max(1, -(-config.min_speech_ms // config.frame_ms))
        self._endpoint = max(self._hangover, config.endpoint_ms // config.frame_ms)
        self._remainder = np.zeros(0, dtype=np.float32)
        self._history: deque[tuple[np.ndarray, int]] = deque(maxlen=self._pre_roll)
        self._candidate: list[tuple[np.ndarray, bool, int]] = []
        self._frames_in = 0
        self.positions: list[int] = []
        self._open = False
        self._in_utterance = False
        self._silent_run = 0
        self._noise_floor: float | None = None
        self.speech_seconds = 0.0

    @property
    def in_utterance(self) -> bool:
        """Speech was let through since the last endpoint."""
        return self._in_utterance

    def push(self, samples: np.ndarray) -> list[Speech | Endpoint]:
        samples = np.concatenate([self._remainder, np.asarray(samples, dtype=np.float32)])
        whole = len(samples) // self._frame * self._frame
        self._remainder = samples[whole:].copy()
        out: list[Speech | Endpoint] = []
        passed: list[np.ndarray] = []
        for start in range(0, whole, self._frame):
            frame = samples[start : start + self._frame]
            self._frame_in(frame, self._voiced(frame), passed, out)
            self._frames_in += 1
        if passed:
            out.append(Speech(np.concatenate(passed)))
        return out

    def _voiced(self, frame: np.ndarray) -> bool:
        """webrtcvad's verdict, overruled for frames no louder than the background: webrtcvad
        keeps saying "speech" for a few frames after any burst (a click, a key press) and takes
        steady hiss for speech at times."""
        said_speech = self._vad.is_speech(_pcm16(frame), SAMPLE_RATE)
        energy = float(np.mean(np.square(frame, dtype=np.float64)))
        level = 10.0 * np.log10(energy) if energy > 1e-12 else -120.0
        if self._noise_floor is None or level < self._noise_floor:
            self._noise_floor = level
        elif not said_speech:
            self._noise_floor += _FLOOR_RISE * (level - self._noise_floor)
        return said_speech and level > max(self._noise_floor + _ABOVE_FLOOR_DB, _SILENT_DB)

    def input_seconds(self, first: int, seconds: float) -> float:
        """Where a time *seconds* into the speech passed since passed frame number *first* lies
        in the input, in seconds from its start."""
        frame_seconds = self._frame / SAMPLE_RATE
        index = first + int(seconds // frame_seconds)
        if not self.positions:
            return seconds
        if index >= len(self.positions):  # the partial frame of a flush, or past the end
            index = len(self.positions) - 1
        return round(self.positions[index] * frame_seconds + seconds - (index - first) * frame_seconds, 3)

    def flush(self) -> list[Speech]:
        """At the end of listening: the rest of an open gate's audio (a partial frame)."""
        out = []
        if self._open and len(self._remainder):
            out.append(Speech(self._remainder))
        self._remainder = np.zeros(0, dtype=np.float32)
        return out

    def _frame_in(self, frame: np.ndarray, voiced: bool, passed: list, out: list) -> None:
        if self._open:
            passed.append(frame)
            self.positions.append(self._frames_in)
            self._silent_run = 0 if voiced else self._silent_run + 1
            if voiced:
                self.speech_seconds += len(frame) / SAMPLE_RATE
            if self._silent_run >= self._hangover:
                self._open = False
            return
        if self._in_utterance:
            self._silent_run += 1
            if self._silent_run >= self._endpoint and not self._candidate:
                if passed:
                    out.append(Speech(np.concatenate(passed)))
                    passed.clear()
                out.append(Endpoint())
                self._in_utterance = False
        if voiced or self._candidate:
            self._candidate.append((frame, voiced, self._frames_in))
            if sum(v for _, v, _ in self._candidate) >= self._min_speech:
                self._open_gate(passed)
            elif _trailing_silent_frames(self._candidate) >= self._hangover:
                for held, _, index in self._candidate:
                    self._history.append((held, index))
                self._candidate.clear()
        else:
            self._history.append((frame, self._frames_in))

    def _open_gate(self, passed: list) -> None:
        for frame, index in self._history:
            passed.append(frame)
            self.positions.append(index)
        self._history.clear()
        for frame, voiced, index in self._candidate:
            passed.append(frame)
            self.positions.append(index)
            if voiced:
                self.speech_seconds += len(frame) / SAMPLE_RATE
        self._candidate.clear()
        self._open = True
        self._in_utterance = True
        self._silent_run = 0


def _trailing_silent_frames(candidate: list[tuple[np.ndarray, bool, int]]) -> int:
    count = 0
    for _, voiced, _ in reversed(candidate):
        if voiced:
            break
        count += 1
    return count
