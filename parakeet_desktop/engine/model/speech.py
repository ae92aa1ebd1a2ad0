"""A loaded Parakeet model and recognition of batches of audio with it.

Torch and NeMo are imported only when a model is used, never when this module is imported, so
the command line starts in a blink. Loading lives in ``loader.py``.

Recognition calls NeMo's preprocessor, encoder and greedy batched (label-looping) decoder
directly rather than ``model.transcribe()``: the same modules and the same text, without the
temporary data loader that ``transcribe()`` builds on every call.

Number formats, as NeMo's own ``rnnt_inference_wrapper.py`` runs them: on a GPU the encoder's
weights are cast once to the planned half type (bf16 or fp16); the preprocessor stays in fp32
(NeMo turns autocast off for its STFT anyway); the features are cast on the way into the encoder
and its output back to fp32 before the decoder and joint, which stay fp32. No autocast: under
``torch.inference_mode()`` autocast does not cache its weight casts, so it would convert all
0.6 B weights again on every call, and NeMo's attention swaps an fp16 autocast for bf16, which
Turing cards only emulate.

The GPU's failures are survived here: out of memory (also as a cuBLAS/cuDNN allocation error),
a batch is halved, then a piece is cut in two at its quietest point, and only a piece that still
does not fit moves the model to the CPU; a failure inside CUDA-graph decoding steps down to
NeMo's partial graphs, then to no graphs, and the same audio is decoded again; fp16 that
overflows puts the encoder back in fp32.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...messages import first_line
from ..audio import SAMPLE_RATE
from ..recognize import NO_LIST, Flag, PhraseLists, Vocabulary, Word, floor_ms
from .devices import DevicePlan
from .gpu import QueueBound, forget_decoder_graphs, is_out_of_memory, move_weights, release_memory

logger = logging.getLogger(__name__)


# normalize_batch in NeMo fails on inputs of a frame or two; shorter clips are padded with silence.
_MIN_SAMPLES = SAMPLE_RATE // 4
# Out of memory, a single piece is cut in two at its quietest point down to this length.
_MIN_SPLIT_SAMPLES = SAMPLE_RATE * 4
# On a GPU, the cancel check before an encoder layer waits until all but the last group of this
# many layers has run (the CPU queues layers far ahead of the GPU otherwise).
SYNC_EVERY_LAYERS = 4




class ModelError(Exception):
    """A model that cannot be loaded or run; the message tells the user what to do."""


class RecognitionCancelled(Exception):
    """Recognition was stopped on request before it finished."""


@dataclass(frozen=True)
class Recognition:
    """Text and words of one piece of audio; word times are seconds from the piece's start."""

    text: str
    words: tuple[Word, ...]


class ParakeetModel:
    """A loaded transducer (RNNT/TDT) model, ready to recognise batches of 16 kHz audio."""

    def __init__(self, nemo_model, name: str, plan: DevicePlan) -> None:
        self.nemo = nemo_model
        self.name = name
        # Language codes it recognises; None when not known (a .nemo file of unknown origin).
        self.languages: tuple[str, ...] | None = None
        self.device = plan.device
        self.dtype = plan.dtype
        # On the CPU, the encoder's matrix products in int8 (a setting: engine/model/quantize.py).
        self.int8_encoder = False
        self.notices: list[str] = [plan.notice] if plan.notice else []
        # Called with each notice given after loading (the GPU given up, graphs turned off).
        self.on_notice: Callable[[str], None] | None = None
        self.cuda_graphs = False
        # Seconds of padded audio in one batch; the loader measures the GPU's room for it.
        self.batch_seconds = 60.0
        self.sync_every_layers = SYNC_EVERY_LAYERS
        stride = float(nemo_model.cfg.preprocessor.get("window_stride", 0.01))
        self.frame_seconds = stride * nemo_model.encoder.subsampling_factor
        # The attention contexts (left, right) of a cache-aware streaming encoder; empty for an
        # offline one (engine/recognize/cache_aware.py streams with the former).
        self.streaming_contexts: tuple[tuple[int, int], ...] = native_streaming_contexts(nemo_model.encoder)
        # The vocabulary in force (settings), compiled in the decoder; a call may bring its own.
        self.phrase_lists = PhraseLists(nemo_model)
        self.vocabulary = Vocabulary()
        self._vocabulary_id = NO_LIST
        # Resting: the weights wait in CPU memory so the GPU's memory is free for other programs.
        self.resting = False

    @property
    def max_piece_seconds(self) -> float:
        """Longest piece worth encoding at once on this device (attention cost grows squared)."""
        return 60.0 if self.device == "cuda" else 30.0

    def set_vocabulary(self, vocabulary: Vocabulary) -> None:
        """Favour *vocabulary*'s phrases from the next batch or utterance on (no reload). A list
        that cannot be compiled leaves recognition without one, and says why."""
        if vocabulary and not self.phrase_lists.available:
            self.notice("The vocabulary cannot be used with the model as it is loaded (phrase boosting was "
                        "not asked for at load, or this GPU lacks Triton); words are recognised without it.")
        try:
            held = self.phrase_lists.hold(vocabulary)
        except Exception as exc:  # noqa: BLE001 - NeMo's tokenizer or tree builder; words still come
            logger.exception("The vocabulary could not be compiled")
            self.notice(f"The vocabulary could not be used ({first_line(exc)}); words are recognised without it.")
            held, vocabulary = NO_LIST, Vocabulary()
        old, self._vocabulary_id, self.vocabulary = self._vocabulary_id, held, vocabulary
        self.phrase_lists.let_go(old)

    def hold_vocabulary(self, vocabulary: Vocabulary | None = None) -> int:
        """An id for decoding with *vocabulary* (the one in force when None) until
        :meth:`let_go_vocabulary`: a stream keeps its list while the settings change."""
        return self.phrase_lists.hold(self.vocabulary if vocabulary is None else vocabulary)

    def let_go_vocabulary(self, list_id: int) -> None:
        self.phrase_lists.let_go(list_id)

    def notice(self, text: str) -> None:
        logger.warning("%s", text)
        self.notices.append(text)
        if self.on_notice is not None:
            self.on_notice(text)

    # --- recognition ------------------------------------------------------------------------

    def recognize(self, pieces: list[np.ndarray],
                  cancel: Flag | None = None,
                  progress: Callable[[float], None] | None = None,
                  vocabulary: Vocabulary | None = None) -> list[Recognition]:
        """Recognise each piece of 16 kHz mono audio; one batch on the model's device; the
        phrases of *vocabulary* (the one in force when None) are favoured.

        Out of memory, the batch is split in two, then a single piece in two at its quietest
        point; a piece of a few seconds that still does not fit moves the model to the CPU (with
        a notice) and goes on there.
        """
        if not pieces:
            return []
        list_id = self.hold_vocabulary(vocabulary)
        try:
            return self._recognize_or_split(pieces, cancel, progress, list_id)
        finally:
            self.let_go_vocabulary(list_id)

    def _recognize_or_split(self, pieces: list[np.ndarray], cancel: Flag | None,
                            progress: Callable[[float], None] | None, list_id: int) -> list[Recognition]:
        try:
            return self._recognize(pieces, cancel, progress, list_id)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            why = first_line(exc)
        # Retried out here, not in the handler: the traceback held the failed attempt's tensors.
        release_memory()
        if len(pieces) > 1:
            half = len(pieces) // 2
            return (self._recognize_or_split(pieces[:half], cancel, None, list_id)
                    + self._recognize_or_split(pieces[half:], cancel, None, list_id))
        if len(pieces[0]) >= 2 * _MIN_SPLIT_SAMPLES:
            return [self._recognize_in_halves(pieces[0], cancel, list_id)]
        if self.device == "cpu":
            raise ModelError(f"Not enough memory to recognise {len(pieces[0]) / SAMPLE_RATE:.0f} s of audio ({why}).")
        self.move_to_cpu(f"The GPU ran out of memory ({why})")
        return self._recognize(pieces, cancel, None, list_id)

    def _recognize_in_halves(self, samples: np.ndarray, cancel: Flag | None, list_id: int) -> Recognition:
        cut = quietest_cut(samples)
        first = self._recognize_or_split([samples[:cut]], cancel, None, list_id)[0]
        second = self._recognize_or_split([samples[cut:]], cancel, None, list_id)[0]
        offset = cut / SAMPLE_RATE
        words = first.words + tuple(Word(w.text, round(w.start + offset, 3), round(w.end + offset, 3))
                                    for w in second.words)
        return Recognition(" ".join(t for t in (first.text, second.text) if t), words)

    # --- giving the GPU back while idle -------------------------------------------------------

    def can_rest(self) -> bool:
        """Whether resting frees anything: the model holds GPU memory."""
        return self.device == "cuda" and not self.resting

    def rest(self) -> None:
        """Move the weights to CPU memory and give the GPU's memory back: the cache, and the
        decoder's CUDA graphs with their memory pools (captured again at the next decode, as
        they would point at memory given back)."""
        forget_decoder_graphs(self.nemo)
        move_weights(self.nemo, "cpu")
        self.resting = True
        release_memory()

    def wake(self) -> None:
        """Move the weights back to the model's device."""
        move_weights(self.nemo, self.device)
        self.resting = False

    def move_to_cpu(self, why: str) -> None:
        import torch

        from .lean_encoder import for_the_cpu
        self.nemo.to(device="cpu", dtype=torch.float32)
        for_the_cpu(self.nemo)  # the CPU's faster modules (engine/model/lean_encoder.py)
        self.device, self.dtype, self.cuda_graphs = "cpu", "float32", False
        self.batch_seconds = 60.0
        release_memory()
        self.notice(f"{why}; recognition continues on the CPU, which is slower.")

    def _recognize(self, pieces: list[np.ndarray], cancel: Flag | None,
                   progress: Callable[[float], None] | None = None, list_id: int = NO_LIST) -> list[Recognition]:
        encoded, encoded_lengths = self.encode_batch(pieces, cancel, progress)
        if cancel is not None and cancel.is_set():
            raise RecognitionCancelled()
        return self.decode_encoded(encoded, encoded_lengths, [len(p) / SAMPLE_RATE for p in pieces], list_id)

    def decode_encoded(self, encoded, encoded_lengths, durations: list[float],
                       list_id: int = NO_LIST) -> list[Recognition]:
        """Text and timed words of encoder outputs ``[B, D, T]`` of pieces *durations* seconds long."""
        if list_id == NO_LIST:
            hypotheses = self.decode(lambda: self.nemo.decoding.rnnt_decoder_predictions_tensor(
                encoder_output=encoded, encoded_lengths=encoded_lengths, return_hypotheses=True))
        else:
            hypotheses = self.decode(lambda: self._boosted_hypotheses(encoded, encoded_lengths, list_id))
        if isinstance(hypotheses, tuple):
            hypotheses = hypotheses[0]
        return [self._result(h, duration) for h, duration in zip(hypotheses, durations, strict=True)]

    def _boosted_hypotheses(self, encoded, encoded_lengths, list_id: int):
        """What ``rnnt_decoder_predictions_tensor`` gives, decoded with a phrase list: NeMo's
        greedy decoder takes a list id only through partial hypotheses, whose merge drops the
        TDT durations that word times need; so the label-looping computer is called here."""
        import torch
        from nemo.collections.asr.parts.submodules.rnnt_greedy_decoding import pack_hypotheses
        from nemo.collections.asr.parts.utils.rnnt_utils import batched_hyps_to_hypotheses

        computer = self.nemo.decoding.decoding.decoding_computer
        with torch.inference_mode():
            x = encoded.transpose(1, 2)
            ids = torch.full([x.shape[0]], list_id, dtype=torch.long, device=x.device)
            batched, _ = computer(x=x, out_len=encoded_lengths, multi_biasing_ids=ids)
            return self._with_text_and_times(
                pack_hypotheses(batched_hyps_to_hypotheses(batched, batch_size=x.shape[0]), encoded_lengths))

    def encode(self, samples: np.ndarray, cancel: Flag | None = None):
        """Encoder output ``[1, D, T]`` (float32) and its length for one piece of 16 kHz audio.

        Raises RecognitionCancelled when *cancel* is set before the encoder is through.
        """
        return self.encode_batch([samples], cancel)

    def encode_batch(self, pieces: list[np.ndarray], cancel: Flag | None = None,
                     progress: Callable[[float], None] | None = None):
        """Encoder output ``[B, D, T]`` (float32) and lengths for pieces of 16 kHz audio;
        *progress* is called before each encoder layer with the share of layers done."""
        import torch

        encoded, lengths = self._encode_batch(pieces, cancel, progress)
        if self.dtype == "float16" and not bool(torch.isfinite(encoded).all()):
            # fp16 has a narrow range; a model trained in bf16 can overflow it. Rare: once
            # seen, the encoder stays in fp32 (twice the memory, correct text).
            self.nemo.encoder.to(torch.float32)
            self.dtype = "float32"
            self.notice("Half precision (float16) overflowed on this GPU; the encoder now runs in float32.")
            encoded, lengths = self._encode_batch(pieces, cancel)
        return encoded, lengths

    def _encode_batch(self, pieces: list[np.ndarray], cancel: Flag | None,
                      progress: Callable[[float], None] | None = None):
        import torch

        # NeMo's transcribe() leaves the encoder in training mode (dropout on); make sure.
        self.nemo.eval()
        if self.streaming_contexts:  # a whole piece at once: a streaming model's longest look-ahead
            widest = max(self.streaming_contexts, key=lambda context: context[1])
            self.nemo.encoder.set_default_att_context_size(list(widest))
        lengths = [max(len(p), _MIN_SAMPLES) for p in pieces]
        signal = torch.zeros(len(pieces), max(lengths), dtype=torch.float32)
        for row, piece in enumerate(pieces):
            signal[row, : len(piece)] = torch.from_numpy(np.asarray(piece, dtype=np.float32))
        device = torch.device(self.device)
        hooks = self.layer_hooks(cancel, progress) if cancel is not None or progress is not None else []
        try:
            with torch.inference_mode():
                features, feature_lengths = self.nemo.preprocessor(
                    input_signal=signal.to(device), length=torch.tensor(lengths, device=device))
                encoder_dtype = next(self.nemo.encoder.parameters()).dtype
                encoded, encoded_lengths = self.nemo.encoder(audio_signal=features.to(encoder_dtype),
                                                             length=feature_lengths)
                return encoded.float(), encoded_lengths
        finally:
            for hook in hooks:
                hook.remove()

    def decode(self, run: Callable[[], object]):
        """Run a decoding call; when it fails inside CUDA graphs, step the graphs down and run it
        again (the known breakage of some PyTorch / cuda-python / driver pairs, NeMo issues 15145
        and 14107, shows at the first decode of a new shape, not at load)."""
        while True:
            try:
                return run()
            except Exception as exc:
                if not self.cuda_graphs or isinstance(exc, RecognitionCancelled) or is_out_of_memory(exc):
                    raise
                why = first_line(exc)
            self.step_down_cuda_graphs(why)

    def step_down_cuda_graphs(self, why: str) -> None:
        """Full CUDA graphs → NeMo's partial graphs (no conditional nodes) → no graphs."""
        computer = getattr(self.nemo.decoding.decoding, "decoding_computer", None)
        modes = getattr(computer, "CudaGraphsMode", None)
        if computer is not None and modes is not None and computer.cuda_graphs_mode is modes.FULL_GRAPH:
            computer.force_cuda_graphs_mode(modes.NO_WHILE_LOOPS)
            self.notice(f"Fast GPU decoding (full CUDA graphs) failed ({why}); partial CUDA graphs are used.")
            return
        self.nemo.decoding.decoding.disable_cuda_graphs()
        self.cuda_graphs = False
        self.notice(f"Fast GPU decoding (CUDA graphs) failed ({why}) and is off.")

    def recognition_of(self, hypothesis, duration: float) -> Recognition:
        """Text and timed words of a hypothesis put together outside NeMo's decoding call
        (tokens and encoder-frame times of a whole streamed utterance)."""
        return self._result(self._with_text_and_times([hypothesis])[0], duration)

    def _with_text_and_times(self, hypotheses: list) -> list:
        """Token hypotheses made text, with word times (a hypothesis without tokens has none)."""
        decoding = self.nemo.decoding
        kind = decoding.cfg.get("rnnt_timestamp_type", "all")
        return [decoding.compute_rnnt_timestamps(h, kind) if len(h.y_sequence) else h
                for h in decoding.decode_hypothesis(hypotheses)]

    def layer_hooks(self, cancel: Flag | None, progress: Callable[[float], None] | None) -> list:
        """Check for cancellation before every encoder layer, so a stop takes effect promptly,
        and tell *progress* how far the encoder is (a long file's bar moves within a batch).

        On a GPU a hook runs when the CPU queues a layer, and the CPU queues all of them within
        milliseconds; so every few layers the hook first waits for the GPU to finish all but the
        group queued last. One group stays in flight, so the GPU is never idle for it.
        """
        sync = self.queue_bound()
        count = len(self.nemo.encoder.layers)

        def check(_module, _inputs, index):
            if sync is not None and index % self.sync_every_layers == 0:
                sync.mark_and_wait()
            if cancel is not None and cancel.is_set():
                raise RecognitionCancelled()
            if progress is not None:
                progress(index / count)

        return [layer.register_forward_pre_hook(lambda m, i, index=index: check(m, i, index))
                for index, layer in enumerate(self.nemo.encoder.layers)]

    def queue_bound(self) -> QueueBound | None:
        """What keeps the CPU from queueing all encoder layers ahead of a GPU (None on a CPU)."""
        return QueueBound() if self.device == "cuda" else None

    def _result(self, hypothesis, duration: float) -> Recognition:
        words = []
        last_end = 0.0
        limit = floor_ms(duration)
        timestamps = hypothesis.timestamp if isinstance(hypothesis.timestamp, dict) else {}
        for item in timestamps.get("word", []):
            # TDT word ends include the predicted duration, which may overshoot the audio.
            start = round(min(max(item["start_offset"] * self.frame_seconds, last_end), limit), 3)
            end = round(min(max(item["end_offset"] * self.frame_seconds, start), limit), 3)
            words.append(Word(item["word"], start, end))
            last_end = end
        return Recognition(hypothesis.text or "", tuple(words))


def native_streaming_contexts(encoder) -> tuple[tuple[int, int], ...]:
    """The look-aheads a cache-aware streaming encoder was trained with, as attention contexts
    ``(left, right)``: an encoder with causal convolutions and attention limited to a finite
    look-ahead. Full-context encoders (Parakeet TDT) have none, also when local attention is
    switched on for long files (their convolutions still look ahead)."""
    conv = getattr(encoder, "conv_context_size", None)
    contexts = getattr(encoder, "att_context_size_all", None) or [getattr(encoder, "att_context_size", None)]
    if not hasattr(encoder, "cache_aware_stream_step") or not conv or conv[1] != 0:
        return ()
    found = [(int(c[0]), int(c[1])) for c in contexts if c is not None and len(c) == 2 and c[1] >= 0]
    return tuple(found) if len(found) == len(contexts) else ()


def quietest_cut(samples: np.ndarray) -> int:
    """A sample index near the middle of *samples* (within its middle third) where the audio is
    quietest over 30 ms, to cut a piece in two with the least chance of cutting a word."""
    frame = SAMPLE_RATE * 30 // 1000
    first, last = len(samples) // 3 // frame, 2 * len(samples) // 3 // frame
    window = np.asarray(samples[first * frame : last * frame], dtype=np.float32).reshape(-1, frame)
    return (first + int(np.argmin(np.square(window).mean(axis=1)))) * frame + frame // 2
