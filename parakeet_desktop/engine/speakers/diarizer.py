"""Who speaks when: NeMo's Sortformer over a recording, as speaker activity per 80 ms frame and
as turns.

Sortformer gives each of its (four) outputs to a speaker in order of first appearance. A
recording up to ``OFFLINE_SECONDS`` long is seen whole, as the models were trained; a longer one
goes through the model's streaming mode, chunk by chunk with its speaker cache and FIFO (the sizes
in the model's own config), so memory stays bounded however long the file is. Features are
computed for each chunk from its own samples (with a margin, so the STFT's edges fall outside),
never for the whole file at once.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...messages import first_line
from ..audio import SAMPLE_RATE, speech_frames
from ..model import ModelError
from ..recognize import Flag

logger = logging.getLogger(__name__)

# Longer recordings are diarized in streaming mode (the models' training sessions were 90 s).
OFFLINE_SECONDS = 90.0
# A speaker is active in a frame from this probability on (NeMo's default onset and offset).
ACTIVE = 0.5
# Gaps in one speaker's activity shorter than this are bridged; runs shorter are dropped.
_BRIDGE_SECONDS = 0.25
_SHORTEST_TURN_SECONDS = 0.16
# Feature frames computed on either side of a chunk and thrown away (the STFT's edges).
_MARGIN_FRAMES = 8
_VAD_MS = 30  # webrtcvad's frames for telling speech from silence


@dataclass(frozen=True)
class Turn:
    """A stretch of one speaker's speech, in seconds from the start of the recording."""

    start: float
    end: float
    speaker: int


@dataclass
class Diarization:
    """Speaker activity over a recording: ``activity[frame, speaker]`` probabilities (0-1) of
    *frame_seconds* frames, speakers numbered in order of first appearance, and the turns."""

    activity: np.ndarray
    frame_seconds: float
    turns: list[Turn] = field(default_factory=list)
    capacity: int = 4
    # Speaker number (the turns') → the activity column (the model's output) it came from.
    outputs: list[int] = field(default_factory=list)

    @property
    def speakers(self) -> int:
        """How many speakers were heard."""
        return len({turn.speaker for turn in self.turns})

    @property
    def at_capacity(self) -> bool:
        """Every output of the model was used: more people may have spoken than it can tell apart."""
        return self.speakers >= self.capacity

    def weights(self, start: float, end: float) -> np.ndarray:
        """Each speaker's summed activity over ``[start, end)`` (at least the frame at *start*),
        indexed by speaker number."""
        if not len(self.activity) or not self.outputs:
            return np.zeros(len(self.outputs))
        first = min(max(0, int(start / self.frame_seconds)), len(self.activity) - 1)
        last = max(first + 1, math.ceil(end / self.frame_seconds))
        return self.activity[first:last][:, self.outputs].sum(axis=0)


class Diarizer:
    """A loaded Sortformer, ready to diarize 16 kHz mono recordings."""

    def __init__(self, nemo_model, name: str = "diarizer", offline_seconds: float = OFFLINE_SECONDS) -> None:
        self.nemo_model = nemo_model
        self.name = name
        self.offline_seconds = offline_seconds
        modules = nemo_model.sortformer_modules
        self.capacity = int(modules.n_spk)
        self.subsampling = int(modules.subsampling_factor)
        self.hop = int(round(nemo_model.preprocessor._cfg.window_stride * SAMPLE_RATE))
        self.frame_seconds = self.subsampling * self.hop / SAMPLE_RATE

    def diarize(self, samples: np.ndarray, progress=None, cancel: Flag | None = None) -> Diarization:
        """Speaker activity and turns of *samples*; *progress* is told the fraction done after each
        chunk; setting *cancel* stops between chunks (``RecognitionCancelled``)."""
        import torch

        samples = np.asarray(samples, dtype=np.float32)
        if len(samples) < 2 * self.hop * self.subsampling:  # not a frame of speech to tell anyone by
            return Diarization(np.zeros((max(1, len(samples) // (self.hop * self.subsampling)), self.capacity),
                                        np.float32), self.frame_seconds, [], self.capacity, [])
        peak = float(np.abs(samples).max())
        # As NeMo does for a whole recording: the loudest sample at full scale.
        scale = 1.0 / (peak + 1e-3)
        with torch.inference_mode():
            if len(samples) <= self.offline_seconds * SAMPLE_RATE:
                activity = self._whole(samples, scale)
            else:
                activity = self._streamed(samples, scale, progress, cancel)
        if progress is not None:
            progress(1.0)
        activity = activity[: max(1, math.ceil(len(samples) / SAMPLE_RATE / self.frame_seconds))]
        activity = activity * self._heard(samples, len(activity))[:, None]
        turns, outputs = turns_of(activity, self.frame_seconds)
        return Diarization(activity, self.frame_seconds, turns, self.capacity, outputs)

    def _heard(self, samples: np.ndarray, frames: int) -> np.ndarray:
        """1.0 for each output frame with speech in or next to it (webrtcvad, lenient), else 0:
        nobody speaks in silence or a steady hum, whatever the model makes of it."""
        vad = speech_frames(samples, _VAD_MS, aggressiveness=1)
        per_ms = np.repeat(vad, _VAD_MS // 10)  # 10 ms steps
        step = round(self.frame_seconds * 100)
        padded = np.zeros(frames * step, dtype=bool)
        padded[: min(len(padded), len(per_ms))] = per_ms[: len(padded)]
        heard: np.ndarray = np.asarray(padded.reshape(frames, step).any(axis=1))
        near = np.convolve(heard.astype(np.float32), np.ones(3, np.float32), mode="same") > 0
        return np.asarray(near, dtype=np.float32)

    def _features(self, samples: np.ndarray, scale: float, first: int, last: int):
        """Feature frames ``[first, last)`` of the whole recording, computed from its samples
        around them: ``[1, features, frames]`` and its length."""
        import torch

        total = len(samples) // self.hop + 1
        start = max(0, first - _MARGIN_FRAMES)
        end = min(total, last + _MARGIN_FRAMES)
        piece = samples[start * self.hop : max(start * self.hop + 1, (end - 1) * self.hop + 1)] * scale
        device = next(self.nemo_model.parameters()).device
        signal = torch.from_numpy(np.ascontiguousarray(piece)).unsqueeze(0).to(device)
        length = torch.tensor([len(piece)], device=device)
        features, _ = self.nemo_model.preprocessor(input_signal=signal, length=length)
        features = features[:, :, first - start : last - start]
        return features, torch.tensor([features.shape[2]], device=device)

    def _whole(self, samples: np.ndarray, scale: float) -> np.ndarray:
        model = self.nemo_model
        features, length = self._features(samples, scale, 0, len(samples) // self.hop + 1)
        encoded, encoded_length = model.frontend_encoder(processed_signal=features, processed_signal_length=length)
        return model.forward_infer(encoded, encoded_length)[0].float().cpu().numpy()

    def _streamed(self, samples: np.ndarray, scale: float, progress, cancel: Flag | None) -> np.ndarray:
        """NeMo's ``forward_streaming`` chunk by chunk (its ``streaming_feat_loader``'s offsets),
        each chunk's features made from its own samples."""
        import torch

        from ..model import RecognitionCancelled

        model, modules = self.nemo_model, self.nemo_model.sortformer_modules
        device = next(model.parameters()).device
        state = modules.init_streaming_state(batch_size=1, async_streaming=False, device=device)
        total = len(samples) // self.hop + 1
        step = modules.chunk_len * self.subsampling
        chunks: list[np.ndarray] = []
        start = 0
        while start < total:
            if cancel is not None and cancel.is_set():
                raise RecognitionCancelled()
            end = min(start + step, total)
            left = min(modules.chunk_left_context * self.subsampling, start)
            right = min(modules.chunk_right_context * self.subsampling, total - end)
            features, length = self._features(samples, scale, start - left, end + right)
            empty = torch.zeros((1, 0, self.capacity), device=device)
            state, preds = model.forward_streaming_step(
                processed_signal=features.transpose(1, 2), processed_signal_length=length,
                streaming_state=state, total_preds=empty, left_offset=left, right_offset=right)
            chunks.append(preds[0].float().cpu().numpy())
            start = end
            if progress is not None:
                progress(min(1.0, start / total))
        return np.concatenate(chunks) if chunks else np.zeros((0, self.capacity), np.float32)


def turns_of(activity: np.ndarray, frame_seconds: float) -> tuple[list[Turn], list[int]]:
    """Each speaker's runs of active frames (short gaps bridged, blips dropped), in time order,
    speakers renumbered by first appearance so that no number is skipped; and for each speaker
    number, the activity column it came from."""
    bridge = max(1, round(_BRIDGE_SECONDS / frame_seconds))
    shortest = max(1, round(_SHORTEST_TURN_SECONDS / frame_seconds))
    found: list[tuple[int, int, int]] = []
    for speaker in range(activity.shape[1] if activity.ndim == 2 else 0):
        active = np.flatnonzero(activity[:, speaker] >= ACTIVE)
        if not len(active):
            continue
        breaks = np.flatnonzero(np.diff(active) > bridge)
        starts = np.concatenate([[active[0]], active[breaks + 1]])
        ends = np.concatenate([active[breaks], [active[-1]]]) + 1
        found += [(int(s), int(e), speaker) for s, e in zip(starts, ends, strict=True) if e - s >= shortest]
    found.sort()
    order: dict[int, int] = {}
    for _, _, speaker in found:
        order.setdefault(speaker, len(order))
    turns = [Turn(round(s * frame_seconds, 2), round(e * frame_seconds, 2), order[k]) for s, e, k in found]
    return turns, list(order)


def load_diarizer(ref: str, device: str = "auto", progress=None, cancel: Flag | None = None) -> Diarizer:
    """A Sortformer by hub id or ``.nemo`` path, on the GPU when there is one (*device* "auto"
    or "cuda") and it fits, else the CPU.

    Raises:
        ModelError: missing, damaged, not a diarization model, or not downloadable.
    """
    from ..model import restore

    nemo_model = restore(ref, progress, cancel)
    name = Path(ref).name if ref.endswith(".nemo") else ref
    if not hasattr(nemo_model, "sortformer_modules"):
        raise ModelError(f"{name} is a {type(nemo_model).__name__}, not a speaker diarization model "
                         "(Sortformer); give one such as nvidia/diar_streaming_sortformer_4spk-v2.1.")
    nemo_model.eval()
    on_the_gpu(nemo_model, device, "diarizer")
    _keep_cache_settings(nemo_model)
    return Diarizer(nemo_model, name)


def on_the_gpu(nemo_model, device: str, what: str) -> None:
    """A speaker model onto the GPU when *device* allows one ("auto" or a cuda choice) and there
    is one; where it does not fit, it stays on the CPU, which the log says."""
    if device not in ("auto", "cuda", "cuda-fp16", "cuda-bf16"):
        return
    import torch

    if torch.cuda.is_available():
        try:
            nemo_model.to("cuda")
        except Exception as exc:  # no room on the GPU: the CPU serves
            nemo_model.to("cpu")
            logger.warning("The %s stays on the CPU: %s", what, first_line(exc))


def _keep_cache_settings(nemo_model) -> None:
    """The streaming sizes the checkpoint names, checked as NeMo checks them before streaming."""
    modules = nemo_model.sortformer_modules
    for name in ("spkcache_len", "fifo_len", "chunk_len", "spkcache_update_period", "chunk_left_context",
                 "chunk_right_context", "spkcache_sil_frames_per_spk"):
        setattr(modules, name, int(getattr(modules, name)))
    modules._check_streaming_parameters()
