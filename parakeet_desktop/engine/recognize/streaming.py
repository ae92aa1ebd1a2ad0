"""Chunked streaming recognition with a Parakeet (full-attention TDT/RNNT) model.

NeMo's buffered scheme, as in its ``speech_to_text_streaming_infer_rnnt.py``: every step encodes
``[left | chunk | right]`` seconds of the utterance, drops the left context's encoder frames,
decodes only the chunk's frames with NeMo's label-looping decoding computer, and carries its
state (predictor state, last label and, for TDT, how far a duration jumped past the chunk) into
the next step. The right context is decoded from a copy of that state, for the partial text only;
so is all the audio at the start of an utterance, before a chunk and its right context are in.
Each buffer is normalised on its own by the model's preprocessor (per-feature statistics over
the buffer's audio, as NeMo's streaming script does).

When the machine falls behind, a step takes every whole chunk that is waiting at once, so
captions catch up instead of lagging further; at the end (:meth:`StreamingTranscriber.finish`)
everything not yet decoded is encoded in one last buffer, so the time from stop to final text is
one encoder pass whatever the utterance's length.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..audio import SAMPLE_RATE, GrowingBuffer
from ..model import ParakeetModel, Recognition, RecognitionCancelled
from .carried import CarriedDecoding
from .flags import Flag
from .latency import Latency
from .vocabulary import Vocabulary


@dataclass(frozen=True)
class StreamingConfig:
    """Context sizes in seconds; each is rounded to whole encoder frames (80 ms for Parakeet).

    Text is committed ``chunk + right`` seconds behind the speech; the caption also shows a
    tentative decode of the newest audio, so it trails by about a chunk plus the compute time.
    ``left`` buys accuracy, not latency.
    """

    chunk: float
    left: float
    right: float
    # A step never takes more than this many seconds of waiting chunks at once.
    max_step: float = 8.0

    def for_device(self, device: str) -> StreamingConfig:
        """Sizes given outright hold on every device."""
        return self


# NeMo's published Parakeet TDT 0.6B v3 streaming set-up keeps 9.6 s of left context and decodes
# 0.8 s chunks; on a GPU that costs a few milliseconds per step. A two-core CPU cannot encode
# 11 s buffers several times a second with the 0.6B model (about 2 s each here), so the CPU
# preset takes longer chunks with a shorter left context.
GPU_DEFAULT = StreamingConfig(chunk=0.8, left=9.6, right=0.8)
CPU_DEFAULT = StreamingConfig(chunk=1.6, left=3.2, right=0.8)

# Chunk and right context (seconds) of the latency settings; "balanced" is the device default.
LATENCY_PRESETS = {Latency.FAST: (0.48, 0.48), Latency.BALANCED: None, Latency.ACCURATE: (1.6, 1.6)}


def default_config(device: str) -> StreamingConfig:
    return GPU_DEFAULT if device == "cuda" else CPU_DEFAULT


@dataclass(frozen=True)
class StreamingChoice:
    """What the user chose (a latency preset, perhaps some sizes), resolved for the device the
    model is on when an utterance starts: a model that gave up the GPU mid-session must not keep
    the GPU's preset, which a CPU cannot keep up with."""

    latency: Latency = Latency.BALANCED
    chunk: float | None = None
    left: float | None = None
    right: float | None = None
    # A cache-aware model's step in seconds (its look-ahead plus one frame): the latency preset's
    # when None, the offered one nearest when given.
    step: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "latency", Latency(self.latency))  # its value is taken too

    def for_device(self, device: str) -> StreamingConfig:
        config = default_config(device)
        preset = LATENCY_PRESETS[self.latency]
        if preset is not None:
            config = replace(config, chunk=preset[0], right=preset[1])
        given = {name: getattr(self, name) for name in ("chunk", "left", "right") if getattr(self, name) is not None}
        return replace(config, **given)


@dataclass(frozen=True)
class StreamTap:
    """Hooks for measuring a stream from outside (benchmarks, diagnostics), called on the engine
    thread: *stored* with the utterance's length in samples after audio arrives; *stepped* after
    each encoder step with the end sample of the audio it covered and whether it was the final
    flush."""

    stored: Callable[[int], None] | None = None
    stepped: Callable[[int, bool], None] | None = None


class UtteranceAudio:
    """The audio of the utterance in progress, kept whole (the final pass, the history and a
    rescue need it), told to the tap as it grows; shared by both streaming routes, whose
    :meth:`step` runs what the stored audio allows."""

    tap: StreamTap

    def _clear_audio(self) -> None:
        self._audio = GrowingBuffer(SAMPLE_RATE * 10)

    @property
    def audio(self) -> np.ndarray:
        """All samples of the utterance so far (a view, valid until the next call)."""
        return self._audio.view()

    @property
    def duration(self) -> float:
        return len(self._audio) / SAMPLE_RATE

    def store(self, samples: np.ndarray) -> None:
        """Add 16 kHz mono samples without decoding them yet."""
        self._audio.append(np.asarray(samples, dtype=np.float32))
        if self.tap.stored is not None:
            self.tap.stored(len(self._audio))

    def accept(self, samples: np.ndarray, decode: bool = True) -> str | None:
        """Add 16 kHz mono samples and run the steps they allow (none when *decode* is False).
        Returns the new partial text of the utterance when it changed, else None."""
        self.store(samples)
        return self.step() if decode else None

    def step(self) -> str | None:
        raise NotImplementedError


class StreamingTranscriber(UtteranceAudio):
    """One utterance at a time: :meth:`accept` audio as it arrives, :meth:`finish` at the end."""

    # Offline models have no end-of-utterance token (cache_aware.py: a model that has one).
    heard_end = False

    def __init__(self, model: ParakeetModel, config: StreamingConfig,
                 cancel: Flag | None = None, tap: StreamTap | None = None,
                 vocabulary: Vocabulary | None = None) -> None:
        self.model = model
        self.decoding = CarriedDecoding(model, vocabulary)
        self.config = config
        self.tap = tap or StreamTap()
        # When set (the key was released), a running step stops before the encoder's next layer:
        # its audio is decoded by the final step or pass instead.
        self.cancel = cancel
        frame_seconds = model.frame_seconds
        self._frame_samples = round(frame_seconds * SAMPLE_RATE)
        self._chunk = max(1, round(config.chunk / frame_seconds))
        self._left = max(0, round(config.left / frame_seconds))
        self._right = max(0, round(config.right / frame_seconds))
        self._max_step = max(self._chunk, round(config.max_step / frame_seconds) // self._chunk * self._chunk)
        self.reset()

    def reset(self) -> None:
        """Forget the current utterance. The next one decodes with the vocabulary in force at
        its first step (kept for the whole utterance, whatever the settings do meanwhile)."""
        self.let_go_of_vocabulary()
        self._clear_audio()
        self._decoded_frames = 0
        self.decoding.clear()
        self._partial = ""
        self._shown_until = 0
        self.steps = 0

    def step(self) -> str | None:
        """Run the steps the stored audio allows: what :meth:`accept` does after storing. A step
        interrupted through ``cancel`` changes nothing and is left for :meth:`finish`."""
        if self.cancel is not None and self.cancel.is_set():
            return None
        before = self._partial
        with contextlib.suppress(RecognitionCancelled):
            self._steps_ready()
        return self._partial if self._partial != before else None

    def _steps_ready(self) -> None:
        stepped = False
        while (step := self._next_commit()) is not None:
            self._run(*step)
            stepped = True
        if not stepped and (step := self.next_step()) is not None:
            self._run(*step)

    def _next_commit(self) -> tuple[int, int] | None:
        ready = len(self._audio) // self._frame_samples - self._decoded_frames - self._right
        chunks = min(ready, self._max_step) // self._chunk
        if chunks < 1:
            return None
        frames = chunks * self._chunk
        return (self._decoded_frames + frames + self._right) * self._frame_samples, frames

    def next_step(self) -> tuple[int, int] | None:
        """``(end, commit)`` of the step :meth:`step` would run first, or None when none waits:
        whole chunks with their right context to commit; or, without enough right context yet
        (the start of an utterance), a chunk's worth of new audio to show as a tentative caption,
        decoded from the committed state (``commit`` 0)."""
        step = self._next_commit()
        if step is None and len(self._audio) - self._shown_until >= self._chunk * self._frame_samples:
            step = (len(self._audio), 0)
        return step

    def step_buffer(self, step: tuple[int, int]) -> np.ndarray:
        """The audio *step* encodes: the left context, then up to its end."""
        first = max(0, self._decoded_frames - self._left)
        return self._audio.view(first * self._frame_samples, step[0])

    def apply_step(self, step: tuple[int, int], encoded, encoded_length) -> str | None:
        """Run *step* with its buffer encoded elsewhere (one row of a batch of several streams'
        buffers, ``[1, D, T]`` and ``[1]``); the new partial text, or None when unchanged."""
        before = self._partial
        self._run(*step, encoded=(encoded, encoded_length))
        return self._partial if self._partial != before else None

    @property
    def pending_seconds(self) -> float:
        """Audio not decoded yet, which :meth:`finish` encodes with the left context."""
        return (len(self._audio) - self._decoded_frames * self._frame_samples) / SAMPLE_RATE

    def finish(self) -> Recognition:
        """Decode everything not yet decoded and return the utterance's final text and words."""
        try:
            if len(self._audio) > self._decoded_frames * self._frame_samples or self.steps == 0:
                self._run(len(self._audio), commit=None, interruptible=False)
            return self.decoding.recognition(self.duration)
        finally:
            self.let_go_of_vocabulary()

    def _run(self, end: int, commit: int | None, interruptible: bool = True, encoded=None) -> None:
        """Encode ``[left | audio up to end]`` (unless *encoded* already); decode and keep the
        first *commit* frames after the left context (all of them when None), and decode the rest
        from a copy of the decoder state for the partial text only."""
        first = max(0, self._decoded_frames - self._left)
        if encoded is None:
            encoded = self.model.encode(self._audio.view(first * self._frame_samples, end),
                                        self.cancel if interruptible else None)
        encoded, encoded_length = encoded
        left = self._decoded_frames - first
        encoded = encoded.transpose(1, 2)[:, left:]
        available = max(0, int(encoded_length[0]) - left)
        keep = available if commit is None else min(commit, available)
        if keep > 0:
            self.decoding.keep(self.decoding.decode(encoded, keep))
        tentative: list[int] = []
        if available > keep:
            tentative = [int(t) for t in self.decoding.decode(encoded[:, keep:], available - keep,
                                                              carry=False).y_sequence]
        self._decoded_frames += keep if commit is None else commit
        self._shown_until = end
        self.steps += 1
        self._partial = self.decoding.text(self.decoding.tokens + tentative)
        if self.tap.stepped is not None:
            self.tap.stepped(end, commit is None)

    def let_go_of_vocabulary(self) -> None:
        self.decoding.let_go_of_vocabulary()
