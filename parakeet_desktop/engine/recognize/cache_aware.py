"""Streaming recognition with a cache-aware streaming model (NVIDIA's nemotron-speech-streaming,
parakeet_realtime_eou): the second streaming route, beside ``streaming.py``'s buffered one.

Such a model's encoder is causal (causal convolutions and subsampling, attention limited to a
left context and a small look-ahead), so each step encodes only the new chunk of features, with
the encoder's caches (attention keys of the last frames, convolution states) carried from the
step before; the decoder's state is carried as in the buffered route. A step's text is final as
soon as it is decoded: there is no right context to wait for and nothing is decoded twice.

The steps are NeMo's own (``CacheAwareStreamingAudioBuffer`` with ``conformer_stream_step``, as in
its ``speech_to_text_cache_aware_streaming_infer.py``): the first step takes ``chunk_size[0]``
feature frames, each later one ``chunk_size[1]`` with the last ``pre_encode_cache_size[1]``
frames before it for the subsampling's convolutions, and drops what those give the encoder
twice. Features are computed here as audio arrives: a frame is used once every sample its
window reaches has arrived (these models take unnormalised features, so a frame never changes
afterwards), so the features equal those of the whole utterance at once; the last frames, at
:meth:`CacheAwareTranscriber.finish`, are computed with the utterance's true end.

Only the look-ahead is the user's choice (the latency setting): 0, 1, 6 or 13 encoder frames for
nemotron-speech-streaming, that is steps of 80, 160, 560 or 1120 ms of audio.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..audio import SAMPLE_RATE, GrowingBuffer
from ..model import CPU_STEP_MS, ParakeetModel, Recognition, RecognitionCancelled
from .carried import CarriedDecoding
from .flags import Flag
from .latency import Latency
from .streaming import StreamTap, UtteranceAudio
from .vocabulary import Vocabulary

# The default step (audio a step encodes, in seconds) of each device: on a GPU the shortest
# that keeps nemotron-speech-streaming's accuracy (published WER 1.85 % at 80 ms, about 1.7 % from
# 160 ms); on a CPU the shortest the benchmark found keeping up with speech on two cores
# (bench/streaming.py, the 0.6B twin: 0.63 s of compute per second of audio at 1120 ms steps,
# 1.28 at 560 ms).
GPU_STEP = 0.16
CPU_STEP = CPU_STEP_MS / 1000


@dataclass(frozen=True)
class CacheAwareConfig:
    """*step*: seconds of audio each step encodes, the look-ahead plus one encoder frame."""

    step: float


def step_seconds(model: ParakeetModel) -> tuple[float, ...]:
    """The steps a cache-aware model offers, shortest first (one per look-ahead it was trained
    with); empty for a model that does not stream natively."""
    return tuple(sorted(round((right + 1) * model.frame_seconds, 3) for _, right in model.streaming_contexts))


def nearest_step(model: ParakeetModel, wanted: float) -> float:
    """The offered step nearest *wanted* (the shorter of two equally near)."""
    offered = step_seconds(model)
    return min(offered, key=lambda s: (abs(s - wanted), s))


def default_step(model: ParakeetModel, latency: Latency) -> float:
    """A latency preset's step: fast the shortest, accurate the longest, balanced the device's
    default (the offered step nearest it)."""
    offered = step_seconds(model)
    if latency is Latency.FAST:
        return offered[0]
    if latency is Latency.ACCURATE:
        return offered[-1]
    return nearest_step(model, GPU_STEP if model.device == "cuda" else CPU_STEP)


@dataclass
class _Caches:
    """The encoder's caches of one stream (batch dimension of size 1)."""

    channel: Any
    time: Any
    length: Any


class CacheAwareTranscriber(UtteranceAudio):
    """One utterance at a time, as ``StreamingTranscriber``: :meth:`accept` audio as it arrives,
    :meth:`finish` at the end. Steps can also be run in a batch of several streams (the local
    service): :meth:`next_step`, :meth:`step_input`, then :meth:`apply_step` with the batch's row."""

    def __init__(self, model: ParakeetModel, config: CacheAwareConfig, cancel: Flag | None = None,
                 tap: StreamTap | None = None, vocabulary: Vocabulary | None = None) -> None:
        self.model = model
        self.config = config
        self.cancel = cancel
        self.tap = tap or StreamTap()
        self.decoding = CarriedDecoding(model, vocabulary)
        self.context = context_for(model, config.step)
        # NeMo's step sizes for this look-ahead, read once: asking whether a step is ready must
        # not switch the encoder (shared by every stream) to this stream's context.
        self._cfg = copy.copy(use_context(model, self.context))
        featurizer = model.nemo.preprocessor.featurizer
        self._hop = int(featurizer.hop_length)
        self._half_window = int(featurizer.n_fft) // 2
        # Frames computed before the first one used, so that its window has its real samples.
        self._margin = math.ceil(self._half_window / self._hop)
        self._marks = utterance_marks(model)
        self.reset()

    def reset(self) -> None:
        self.let_go_of_vocabulary()
        self._clear_audio()
        self._next_frame = 0  # the first feature frame of the next step
        self._caches: _Caches | None = None
        self.decoding.clear()
        self._partial = ""
        self.steps = 0
        # The model wrote its end-of-utterance token; the utterance's audio up to the end of that
        # step (in samples) is what :meth:`split_at_end` keeps.
        self.heard_end = False
        self._end_sample = 0

    # -- audio -------------------------------------------------------------------------------

    @property
    def pending_seconds(self) -> float:
        return max(0, len(self._audio) - self._next_frame * self._hop) / SAMPLE_RATE

    # -- steps -------------------------------------------------------------------------------

    def _geometry(self, first: bool) -> tuple[int, int, int]:
        """``(chunk, pre_encode_cache, drop_extra)`` in feature frames for the first step or a later one."""
        cfg = self._cfg
        return (_at(cfg.chunk_size, first), _at(cfg.pre_encode_cache_size, first),
                0 if first else int(cfg.drop_extra_pre_encoded))

    def _complete_frames(self) -> int:
        """Feature frames every sample of whose window has arrived."""
        samples = len(self._audio)
        return 0 if samples < self._half_window else (samples - self._half_window) // self._hop + 1

    def next_step(self) -> int | None:
        """The first frame of the step that can run now (a whole chunk has arrived), or None."""
        chunk, _, _ = self._geometry(self.steps == 0)
        return self._next_frame if self._complete_frames() >= self._next_frame + chunk else None

    def step(self) -> str | None:
        """Run the steps the stored audio allows; the new partial text when it changed."""
        if self.cancel is not None and self.cancel.is_set():
            return None
        before = self._partial
        try:
            while self.next_step() is not None:
                self._run(self.step_input(final=False), interruptible=True)
        except RecognitionCancelled:
            pass
        return self._partial if self._partial != before else None

    def step_input(self, final: bool = False) -> StepInput:
        """The features of the next step, with the pre-encode cache in front (zeros before the
        utterance's start) and this stream's encoder caches."""
        import torch

        first = self.steps == 0
        chunk, cache, drop = self._geometry(first)
        total = self._total_frames() if final else None
        stop = self._next_frame + chunk if total is None else min(self._next_frame + chunk, total)
        start = self._next_frame - cache
        features = self._features(max(0, start), stop, final)
        if start < 0:
            pad = torch.zeros(features.shape[0], features.shape[1], -start, dtype=features.dtype,
                              device=features.device)
            features = torch.cat([pad, features], dim=-1)
        keep_all = final and self._next_frame + self._shift(first) >= (total or 0)
        return StepInput(features, drop, keep_all, self._caches_or_initial(), first)

    def _shift(self, first: bool) -> int:
        return _at(self._cfg.shift_size, first)

    def _total_frames(self) -> int:
        # As many frames as the preprocessor gives the whole utterance (its last one is padding).
        return len(self._audio) // self._hop + 1

    def _features(self, first: int, stop: int, final: bool):
        """Log-mel frames ``[first, stop)`` of the utterance, ``[1, F, stop - first]``."""
        import torch

        start_frame = max(0, first - self._margin)
        end = len(self._audio) if final else (stop - 1) * self._hop + self._half_window
        segment = self._audio.view(start_frame * self._hop, end)
        preprocessor = self.model.nemo.preprocessor
        device = torch.device(self.model.device)
        with torch.inference_mode():
            signal = torch.from_numpy(np.ascontiguousarray(segment))[None].to(device)
            features, _ = preprocessor(input_signal=signal, length=torch.tensor([len(segment)], device=device))
        return features[:, :, first - start_frame : stop - start_frame]  # stays on the model's device

    def _caches_or_initial(self) -> _Caches:
        if self._caches is None:
            channel, time, length = self.model.nemo.encoder.get_initial_cache_state(
                batch_size=1, dtype=_encoder_dtype(self.model), device=self.model.device)
            self._caches = _Caches(channel, time, length)
        return self._caches

    def _run(self, step: StepInput, interruptible: bool) -> None:
        output = encode_steps(self.model, [step], self.context, self.cancel if interruptible else None)[0]
        self.apply_step(step, output)

    def apply_step(self, step: StepInput, output: StepOutput) -> str | None:
        """Decode a step's encoder output (from :func:`encode_steps`, alone or as
        one row of a batch), keep its caches and move on; the new partial text, or None."""
        before = self._partial
        frames = int(output.length[0])
        ended = False
        if frames > 0:
            tokens = self.decoding.keep(self.decoding.decode(output.encoded.transpose(1, 2), frames), self._marks)
            ended = any(self._marks.get(token) == END_OF_UTTERANCE for token in tokens)
        self._caches = output.caches
        self._next_frame += self._shift(step.first)
        if ended and not self.heard_end:
            self.heard_end = True
            self._end_sample = min(len(self._audio), self._next_frame * self._hop)
        self.steps += 1
        self._partial = self.decoding.text(self.decoding.tokens)
        if self.tap.stepped is not None:
            self.tap.stepped(min(len(self._audio), self._next_frame * self._hop), step.keep_all)
        return self._partial if self._partial != before else None

    def finish(self) -> Recognition:
        """Run the steps left, with the utterance's true end, and return its text and words.

        As NeMo's buffer, a last piece shorter than the subsampling's window (under 80 ms of
        audio at the very end) is not encoded: it cannot give an encoder frame."""
        try:
            total = self._total_frames()
            while self._next_frame < total:
                chunk_frames = min(self._geometry(self.steps == 0)[0], total - self._next_frame)
                if chunk_frames < _at(self.model.nemo.encoder.pre_encode.get_sampling_frames(), self.steps == 0):
                    break
                self._run(self.step_input(final=True), interruptible=False)
            return self.decoding.recognition(self.duration)
        finally:
            self.let_go_of_vocabulary()

    # -- decoding ----------------------------------------------------------------------------

    def let_go_of_vocabulary(self) -> None:
        self.decoding.let_go_of_vocabulary()

    def split_at_end(self) -> np.ndarray:
        """After :attr:`heard_end`: end this utterance where the model heard it end and return
        the audio after that, which belongs to the next one."""
        audio = self._audio.view()
        rest = audio[self._end_sample :].copy()
        kept = GrowingBuffer(self._end_sample)
        kept.append(audio[: self._end_sample])
        self._audio = kept
        return rest

    @property
    def tokens(self) -> list[int]:
        return list(self.decoding.tokens)


@dataclass
class StepInput:
    """What one stream's step gives the encoder: features ``[1, F, T]`` (the pre-encode cache
    first), frames to drop after subsampling, whether to keep every output frame (the last
    step), the stream's caches, and whether it is the stream's first step."""

    features: Any
    drop_extra: int
    keep_all: bool
    caches: _Caches
    first: bool

    @property
    def batch_key(self) -> tuple:
        """Steps with equal keys can be encoded together."""
        return (self.features.shape[-1], self.drop_extra, self.keep_all)


@dataclass
class StepOutput:
    encoded: Any  # [1, D, T]
    length: Any  # [1]
    caches: _Caches


END_OF_UTTERANCE = "<EOU>"
# NeMo's end-of-utterance models also mark the end of a backchannel ("uh-huh"): not a word either.
_MARKS = (END_OF_UTTERANCE, "<EOB>")


def utterance_marks(model: ParakeetModel) -> dict[int, str]:
    """The token ids of the model's end-of-utterance marks (none for most models)."""
    pieces = getattr(getattr(model.nemo, "tokenizer", None), "vocab", None) or []
    return {index: piece for index, piece in enumerate(pieces) if piece in _MARKS}


def _at(value, first: bool) -> int:
    """A streaming setting of the first step or a later one (NeMo gives some as two values)."""
    return int((value[0] if first else value[1]) if isinstance(value, list) else value)


def _encoder_dtype(model: ParakeetModel):
    return next(model.nemo.encoder.parameters()).dtype


def context_for(model: ParakeetModel, step: float) -> tuple[int, int]:
    """The attention context ``(left, right)`` whose step is nearest *step* seconds."""
    return min(model.streaming_contexts, key=lambda c: (abs((c[1] + 1) * model.frame_seconds - step), c[1]))


def use_context(model: ParakeetModel, context: tuple[int, int]):
    """Make *context* the encoder's (one encoder serves every stream; steps of one context run
    together) and return NeMo's streaming settings for it."""
    encoder = model.nemo.encoder
    if list(encoder.att_context_size) != list(context) or encoder.streaming_cfg is None:
        encoder.set_default_att_context_size(list(context))
    return encoder.streaming_cfg


def encode_steps(model: ParakeetModel, steps: list[StepInput], context: tuple[int, int],
                 cancel: Flag | None = None) -> list[StepOutput]:
    """Encode several streams' steps of one kind (equal ``batch_key``) in one call, their caches
    stacked along the batch; each stream's output and new caches. Raises RecognitionCancelled
    when *cancel* is set before the encoder is through (the streams' caches are unchanged)."""
    import torch

    use_context(model, context)
    model.nemo.eval()
    device = torch.device(model.device)
    dtype = _encoder_dtype(model)
    features = torch.cat([s.features for s in steps]).to(device=device, dtype=dtype)
    lengths = torch.full([len(steps)], features.shape[-1], dtype=torch.long, device=device)
    channel = torch.cat([s.caches.channel for s in steps], dim=1)
    time = torch.cat([s.caches.time for s in steps], dim=1)
    length = torch.cat([s.caches.length for s in steps])
    hooks = model.layer_hooks(cancel, None) if cancel is not None else []
    try:
        with torch.inference_mode():
            encoded, encoded_len, channel, time, length = model.nemo.encoder.cache_aware_stream_step(
                processed_signal=features, processed_signal_length=lengths, cache_last_channel=channel,
                cache_last_time=time, cache_last_channel_len=length, keep_all_outputs=steps[0].keep_all,
                drop_extra_pre_encoded=steps[0].drop_extra)
    finally:
        for hook in hooks:
            hook.remove()
    encoded = encoded.float()
    return [StepOutput(encoded[row : row + 1], encoded_len[row : row + 1],
                       _Caches(channel[:, row : row + 1], time[:, row : row + 1], length[row : row + 1]))
            for row in range(len(steps))]
