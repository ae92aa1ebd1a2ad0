"""Parakeet models: loading through NeMo, device set-up, and recognition of batches of audio.

Torch and NeMo are imported only when a model is loaded, never when this module is imported, so
the command line starts in a blink.

Recognition calls NeMo's preprocessor, encoder and greedy batched (label-looping) decoder
directly rather than ``model.transcribe()``: the same modules and the same text, without the
temporary data loader that ``transcribe()`` builds on every call.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tarfile
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import SAMPLE_RATE
from .devices import CudaStatus, DevicePlan, plan_device, probe_cuda
from .registry import DEFAULT_MODEL_ID, HUB_ID, REGISTRY, cached_model_file, is_model_file
from .transcript import Word, floor_ms

logger = logging.getLogger(__name__)


# normalize_batch in NeMo fails on inputs of a frame or two; shorter clips are padded with silence.
_MIN_SAMPLES = SAMPLE_RATE // 4


class ModelError(Exception):
    """A model that cannot be loaded or run; the message tells the user what to do."""


class RecognitionCancelled(Exception):
    """Recognition was stopped on request before it finished."""


@dataclass(frozen=True)
class Recognition:
    """Text and words of one piece of audio; word times are seconds from the piece's start."""

    text: str
    words: tuple[Word, ...]


@contextlib.contextmanager
def _quiet_nemo():
    """NeMo and its telemetry print to stdout on import; keep stdout for our own output."""
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        yield
    if captured.getvalue().strip():
        logger.debug("NeMo printed: %s", captured.getvalue().strip())


def _import_nemo_asr():
    if not logger.isEnabledFor(logging.DEBUG):
        logging.getLogger("nv_one_logger").setLevel(logging.ERROR)
    with _quiet_nemo():
        from nemo.collections.asr.models import ASRModel
        from nemo.utils import logging as nemo_logging
    if not logger.isEnabledFor(logging.DEBUG):
        nemo_logging.setLevel(logging.ERROR)
    return ASRModel


def _restore_file(path: Path):
    if not path.is_file():
        raise ModelError(f"Model file {path} does not exist.")
    if not tarfile.is_tarfile(path):
        raise ModelError(f"{path.name} is not a NeMo model file (.nemo): it is damaged or of another kind.")
    ASRModel = _import_nemo_asr()
    try:
        with _quiet_nemo():
            return ASRModel.restore_from(str(path), map_location="cpu")
    except MemoryError as exc:
        raise ModelError(f"Not enough memory to load {path.name}.") from exc
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise ModelError(f"{path.name} is damaged or incomplete ({first_line(exc)}); "
                         "download or copy it again.") from exc
    except Exception as exc:
        raise ModelError(f"{path.name} could not be loaded as a speech recognition model: "
                         f"{first_line(exc)}") from exc


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (or its type's name), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def restore(ref: str, progress=None):
    """The NeMo model for a hub id or a ``.nemo`` path, on the CPU (not yet in eval mode).

    A hub model not in the cache is downloaded first, reporting bytes to *progress*."""
    if is_model_file(ref):
        return _restore_file(Path(ref).expanduser())
    if not HUB_ID.match(ref):
        known = ", ".join(info.id for info in REGISTRY)
        raise ModelError(f"Unknown model {ref!r}: give a .nemo file or a model id such as {known}.")
    cached = cached_model_file(ref)
    if cached is None:
        from .download import DownloadError, download

        try:
            cached = download(ref, progress)
        except DownloadError as exc:
            raise ModelError(str(exc)) from exc
    return _restore_file(cached)


class ParakeetModel:
    """A loaded transducer (RNNT/TDT) model, ready to recognise batches of 16 kHz audio."""

    def __init__(self, nemo_model, name: str, plan: DevicePlan) -> None:
        self.nemo = nemo_model
        self.name = name
        self.device = plan.device
        self.dtype = plan.dtype
        self.notices: list[str] = [plan.notice] if plan.notice else []
        self.cuda_graphs = False
        stride = float(nemo_model.cfg.preprocessor.get("window_stride", 0.01))
        self.frame_seconds = stride * nemo_model.encoder.subsampling_factor

    def notice(self, text: str) -> None:
        logger.warning("%s", text)
        self.notices.append(text)

    def recognize(self, pieces: list[np.ndarray],
                  cancel: threading.Event | None = None) -> list[Recognition]:
        """Recognise each piece of 16 kHz mono audio; one batch on the model's device.

        Out of GPU memory, the batch is split in two; a single piece that still does not fit
        moves the model to the CPU (with a notice) and goes on there.
        """
        import torch

        if not pieces:
            return []
        try:
            return self._recognize(pieces, cancel)
        except torch.OutOfMemoryError:
            torch.cuda.empty_cache()
            if len(pieces) > 1:
                half = len(pieces) // 2
                return self.recognize(pieces[:half], cancel) + self.recognize(pieces[half:], cancel)
            self.move_to_cpu("The GPU ran out of memory")
            return self._recognize(pieces, cancel)

    def move_to_cpu(self, why: str) -> None:
        import torch

        self.nemo.to("cpu")
        self.device, self.dtype = "cpu", "float32"
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self.notice(f"{why}; recognition continues on the CPU, which is slower.")

    def _recognize(self, pieces: list[np.ndarray], cancel: threading.Event | None) -> list[Recognition]:
        hooks = self._cancel_hooks(cancel) if cancel is not None else []
        try:
            encoded, encoded_lengths = self._encode_batch(pieces)
            if cancel is not None and cancel.is_set():
                raise RecognitionCancelled()
            hypotheses = self.nemo.decoding.rnnt_decoder_predictions_tensor(
                encoder_output=encoded, encoded_lengths=encoded_lengths, return_hypotheses=True)
        finally:
            for hook in hooks:
                hook.remove()
        if isinstance(hypotheses, tuple):
            hypotheses = hypotheses[0]
        return [self._result(h, len(p) / SAMPLE_RATE) for h, p in zip(hypotheses, pieces)]

    def encode(self, samples: np.ndarray, cancel: threading.Event | None = None):
        """Encoder output ``[1, D, T]`` and its length for one piece of 16 kHz audio.

        Raises RecognitionCancelled when *cancel* is set before the encoder is through.
        """
        hooks = self._cancel_hooks(cancel) if cancel is not None else []
        try:
            return self._encode_batch([samples])
        finally:
            for hook in hooks:
                hook.remove()

    def _encode_batch(self, pieces: list[np.ndarray]):
        import torch

        # NeMo's transcribe() leaves the encoder in training mode (dropout on); make sure.
        self.nemo.eval()
        lengths = [max(len(p), _MIN_SAMPLES) for p in pieces]
        signal = torch.zeros(len(pieces), max(lengths), dtype=torch.float32)
        for row, piece in enumerate(pieces):
            signal[row, : len(piece)] = torch.from_numpy(np.asarray(piece, dtype=np.float32))
        device = torch.device(self.device)
        autocast = torch.autocast("cuda", dtype=getattr(torch, self.dtype),
                                  enabled=self.device == "cuda" and self.dtype != "float32")
        with torch.inference_mode(), autocast:
            features, feature_lengths = self.nemo.preprocessor(
                input_signal=signal.to(device), length=torch.tensor(lengths, device=device))
            return self.nemo.encoder(audio_signal=features, length=feature_lengths)

    def recognition_of(self, hypothesis, duration: float) -> Recognition:
        """Text and timed words of a hypothesis put together outside NeMo's decoding call
        (tokens and encoder-frame times of a whole streamed utterance)."""
        decoding = self.nemo.decoding
        hypothesis = decoding.decode_hypothesis([hypothesis])[0]
        if len(hypothesis.y_sequence):
            hypothesis = decoding.compute_rnnt_timestamps(hypothesis, decoding.cfg.get("rnnt_timestamp_type", "all"))
        return self._result(hypothesis, duration)

    def _cancel_hooks(self, cancel: threading.Event) -> list:
        """Check for cancellation before every encoder layer, so a stop takes effect promptly."""

        def check(_module, _inputs):
            if cancel.is_set():
                raise RecognitionCancelled()

        return [layer.register_forward_pre_hook(check) for layer in self.nemo.encoder.layers]

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


def _check_transducer(nemo_model, name: str) -> None:
    decoding = getattr(nemo_model, "decoding", None)
    if not hasattr(decoding, "rnnt_decoder_predictions_tensor") or not hasattr(nemo_model, "encoder"):
        raise ModelError(f"{name} is a {type(nemo_model).__name__}, not a Parakeet-style transducer "
                         "(RNNT or TDT) speech recognition model.")


def _set_decoding(nemo_model, use_cuda_graphs: bool) -> None:
    from omegaconf import open_dict

    cfg = nemo_model.cfg.decoding
    with open_dict(cfg):
        cfg.strategy = "greedy_batch"
        cfg.compute_timestamps = True
        cfg.greedy.loop_labels = True
        cfg.greedy.use_cuda_graph_decoder = use_cuda_graphs
    with _quiet_nemo():
        if "decoder_type" in nemo_model.change_decoding_strategy.__code__.co_varnames:
            nemo_model.change_decoding_strategy(cfg, decoder_type="rnnt", verbose=False)
        else:
            nemo_model.change_decoding_strategy(cfg, verbose=False)


def self_test_cuda_graphs(run: Callable[[], list[Recognition]], disable: Callable[[], object],
                          enable: Callable[[], object]) -> tuple[bool, str | None]:
    """Decode once with CUDA graphs and once without; keep graphs only if both agree.

    Some PyTorch / cuda-python / driver pairs fail inside CUDA-graph decoding (NeMo issues
    15145, 14107). Returns whether graphs stay on, and a notice when they were turned off.
    """
    try:
        with_graphs = run()
    except Exception as exc:
        disable()
        return False, f"Fast GPU decoding (CUDA graphs) failed its self-test and is off: {exc}"
    disable()
    without_graphs = run()
    if [r.text for r in with_graphs] != [r.text for r in without_graphs]:
        return False, "Fast GPU decoding (CUDA graphs) gave different text in its self-test and is off."
    enable()
    return True, None


def _warm_up_audio() -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(SAMPLE_RATE * 2) / SAMPLE_RATE
    return (0.1 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def load_model(ref: str = DEFAULT_MODEL_ID, device: str = "auto", *,
               cuda: CudaStatus | None = None, warm_up: bool = True, progress=None) -> ParakeetModel:
    """Load a model by hub id or ``.nemo`` path onto the best available device, ready to use.

    Raises:
        ModelError: the model is missing, damaged, of the wrong kind, or cannot be downloaded.
    """
    plan = plan_device(device, cuda if cuda is not None else probe_cuda())
    name = Path(ref).name if is_model_file(ref) else ref
    return prepare_model(restore(ref, progress), name, plan, warm_up=warm_up)


def prepare_model(nemo_model, name: str, plan: DevicePlan, *, warm_up: bool = True) -> ParakeetModel:
    """Make a restored NeMo model ready: eval mode, device, greedy batched decoding, warm-up.

    On CUDA the warm-up is the CUDA-graph self-test.
    """
    _check_transducer(nemo_model, name)
    nemo_model.eval()
    model = ParakeetModel(nemo_model, name, plan)
    if plan.device == "cuda":
        import torch

        try:
            nemo_model.to("cuda")
        except torch.OutOfMemoryError:
            model.move_to_cpu(f"{name} does not fit in the GPU's memory")
    _set_decoding(nemo_model, use_cuda_graphs=model.device == "cuda")
    if model.device == "cuda":
        decoding = nemo_model.decoding.decoding
        probe = [_warm_up_audio()]
        model.cuda_graphs, notice = self_test_cuda_graphs(
            lambda: model.recognize(probe), decoding.disable_cuda_graphs, decoding.maybe_enable_cuda_graphs)
        if notice:
            model.notice(notice)
    elif warm_up:
        model.recognize([_warm_up_audio()])
    logger.info("Loaded %s on %s (%s)", name, model.device, model.dtype)
    return model
