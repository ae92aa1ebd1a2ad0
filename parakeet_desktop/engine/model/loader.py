"""Loading Parakeet models through NeMo and making them ready: device, number format, decoding
config, and a warm-up at the shapes real use reaches.

On a GPU the warm-up is also the CUDA-graph self-test. Graph decoding breaks with some PyTorch /
cuda-python / driver pairs (NeMo issues 15145, 14107), and it breaks when a graph is first
captured for a shape: so the warm-up decodes the shapes that dictation and files reach (a batch
of two, a 60 s piece, streaming steps that carry the decoder state), keeps the graphs it captured,
and compares one batch against decoding without graphs. A failure there, or later at run time,
steps the graphs down (``ParakeetModel.decode``) instead of failing the user's words. The 60 s
piece also measures how much GPU memory a second of audio takes, which sizes the file batches.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tarfile
import zlib
from pathlib import Path

import numpy as np

from ...messages import first_line
from ..audio import SAMPLE_RATE
from ..recognize import GPU_DEFAULT, route_config, transcriber_for
from . import memory, quantize
from .devices import HALF_TYPES, CudaStatus, DevicePlan, plan_device, probe_cuda
from .gpu import is_out_of_memory
from .registry import (
    DEFAULT_MODEL_ID,
    HUB_ID,
    REGISTRY,
    cached_model_file,
    is_model_file,
    model_languages,
    resolve_alias,
)
from .speech import ModelError, ParakeetModel

logger = logging.getLogger(__name__)

# File batches on a GPU: never more padded audio than this in one batch, never less than a piece.
MAX_BATCH_SECONDS = 1200.0
# Share of the GPU memory free after the warm-up that file batches may use.
_BATCH_MEMORY_SHARE = 0.6


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


# The random initialisers a model's constructor runs on each weight. A restore then overwrites
# every weight from the checkpoint (strictly: one the checkpoint lacks is an error), so drawing
# them is wasted: several seconds of the 0.6B model's restore on the CPU (bench/startup.py --cli).
_RANDOM_INITS = ("uniform_", "normal_", "trunc_normal_", "kaiming_uniform_", "kaiming_normal_",
                 "xavier_uniform_", "xavier_normal_", "orthogonal_")


@contextlib.contextmanager
def _without_random_init():
    """Inside, ``torch.nn.init``'s random initialisers leave tensors as they are. Models are
    restored one at a time (the engine's thread, a replica's start), nothing else builds modules
    meanwhile."""
    import torch

    originals = {name: getattr(torch.nn.init, name) for name in _RANDOM_INITS if hasattr(torch.nn.init, name)}

    def leave(tensor, *args, **kwargs):
        return tensor

    try:
        for name in originals:
            setattr(torch.nn.init, name, leave)
        yield
    finally:
        for name, initialiser in originals.items():
            setattr(torch.nn.init, name, initialiser)


def _tar_without_filters() -> None:
    """NeMo checks each member of a .nemo archive itself, then extracts it with tarfile's
    ``filter="data"``, which Python has from 3.11.4 on: on Debian 12's Python 3.11.2 every model
    failed to load ("unexpected keyword argument 'filter'"). Where tarfile has no filters, the
    keyword is dropped (NeMo's own check of each member stays)."""
    if hasattr(tarfile, "data_filter") or getattr(tarfile.TarFile.extract, "filter_dropped", False):
        return
    original = tarfile.TarFile.extract

    def extract(self, member, path="", set_attrs=True, *, numeric_owner=False, filter=None):
        return original(self, member, path, set_attrs, numeric_owner=numeric_owner)

    extract.filter_dropped = True  # type: ignore[attr-defined]
    tarfile.TarFile.extract = extract  # type: ignore[method-assign]


def _restore_file(path: Path):
    if not path.is_file():
        raise ModelError(f"Model file {path} does not exist.")
    if not tarfile.is_tarfile(path):
        raise ModelError(f"{path.name} is not a NeMo model file (.nemo): it is damaged or of another kind.")
    ASRModel = _import_nemo_asr()
    _tar_without_filters()
    try:
        with _quiet_nemo(), _without_random_init():
            return ASRModel.restore_from(str(path), map_location="cpu", strict=True)
    except MemoryError as exc:
        raise ModelError(f"Not enough memory to load {path.name}.") from exc
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise ModelError(f"{path.name} is damaged or incomplete ({first_line(exc)}); "
                         "download or copy it again.") from exc
    except Exception as exc:
        mismatch = _weights_mismatch(exc)
        if mismatch:
            raise ModelError(f"{path.name} is damaged or its weights do not fit its own description "
                             f"({mismatch}); download or copy it again.") from exc
        raise ModelError(f"{path.name} could not be loaded as a speech recognition model: "
                         f"{first_line(exc)}") from exc


def _weights_mismatch(exc: BaseException) -> str | None:
    """What ``load_state_dict`` found missing, unexpected or of the wrong size, shortened; None
    for other errors (its message's first line names no weight)."""
    lines = str(exc).splitlines()
    if not (isinstance(exc, RuntimeError) and lines and lines[0].startswith("Error(s) in loading state_dict")):
        return None
    detail = " ".join(line.strip() for line in lines[1:] if line.strip())
    return detail[:300] + ("…" if len(detail) > 300 else "")


def restore(ref: str, progress=None, cancel=None):
    """The NeMo model for a hub id or a ``.nemo`` path, on the CPU (not yet in eval mode).

    A hub model not in the cache is downloaded first, reporting bytes to *progress*; setting the
    event *cancel* stops the download (ModelError)."""
    ref = resolve_alias(ref)
    if is_model_file(ref):
        return _restore_file(Path(ref).expanduser())
    if not HUB_ID.match(ref):
        known = ", ".join(info.id for info in REGISTRY)
        raise ModelError(f"Unknown model {ref!r}: give a .nemo file or a model id such as {known}.")
    cached = cached_model_file(ref)
    if cached is None:
        from .download import DownloadCancelled, DownloadError, download

        try:
            cached = download(ref, progress, cancel)
        except DownloadCancelled as exc:
            raise ModelError(f"The download of {ref} was cancelled.") from exc
        except DownloadError as exc:
            raise ModelError(str(exc)) from exc
    return _restore_file(cached)


def load_model(ref: str = DEFAULT_MODEL_ID, device: str = "auto", *,
               cuda: CudaStatus | None = None, warm_up: bool = True, progress=None, cancel=None,
               boosting: bool = False) -> ParakeetModel:
    """Load a model by hub id or ``.nemo`` path onto the best available device, ready to use;
    *boosting*: ready for vocabularies (phrase lists; see ``_set_decoding``).

    Raises:
        ModelError: the model is missing, damaged, of the wrong kind, or cannot be downloaded.
    """
    ref = resolve_alias(ref)
    plan = plan_device(device, cuda if cuda is not None else probe_cuda())
    name = Path(ref).name if is_model_file(ref) else ref
    return prepare_model(restore(ref, progress, cancel), name, plan, warm_up=warm_up, boosting=boosting)


def prepare_model(nemo_model, name: str, plan: DevicePlan, *, warm_up: bool = True,
                  boosting: bool = False) -> ParakeetModel:
    """Make a restored NeMo model ready: eval mode, number format, device, greedy batched
    decoding, warm-up (on CUDA always: it is the CUDA-graph self-test).

    The encoder is cast to a half type when the plan says so, before it moves to the GPU (half
    the bytes to move and to hold); the preprocessor, decoder and joint stay in float32.
    """
    import torch

    _check_transducer(nemo_model, name)
    nemo_model.eval()
    model = ParakeetModel(nemo_model, name, plan)
    model.languages = model_languages(name, getattr(getattr(nemo_model, "tokenizer", None), "vocab", None))
    if plan.dtype in HALF_TYPES:
        nemo_model.encoder.to(getattr(torch, plan.dtype))
    if plan.device == "cuda":
        why = None
        try:
            nemo_model.to("cuda")
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            why = f"{name} does not fit in the GPU's memory ({first_line(exc)})"
        if why is not None:  # out of the handler, which holds the half-moved tensors
            model.move_to_cpu(why)
    _set_decoding(nemo_model, use_cuda_graphs=model.device == "cuda", boosting=boosting)
    if model.device == "cpu":  # the decoder and joint stay in float32 whatever the encoder's type
        if plan.int8:  # the cpu-int8 device choice (engine/model/quantize.py)
            model.int8_encoder = quantize.quantize_encoder(nemo_model) > 0
            if not model.int8_encoder:
                model.notices.append("This PyTorch cannot run int8 on this CPU; the encoder runs in float32.")
        from .lean_encoder import for_the_cpu  # it imports NeMo's modules, loaded by now

        for_the_cpu(nemo_model)  # oneDNN's products and the leaner encoder (engine/model/lean_encoder.py)
    if model.device == "cuda":
        _warm_up_gpu(model)
    elif warm_up:
        model.recognize([probe_audio(2.0)])
    memory.give_back()  # what unpacking and copying the weights freed (engine/model/memory.py)
    resident = memory.resident_bytes()
    logger.info("Loaded %s on %s (%s%s)%s", name, model.device, model.dtype,
                ", int8 encoder products" if model.int8_encoder else "",
                f"; {resident / 2**30:.1f} GB resident" if resident else "")
    return model


def _check_transducer(nemo_model, name: str) -> None:
    decoding = getattr(nemo_model, "decoding", None)
    if not hasattr(decoding, "rnnt_decoder_predictions_tensor") or not hasattr(nemo_model, "encoder"):
        raise ModelError(f"{name} is a {type(nemo_model).__name__}, not a Parakeet-style transducer "
                         "(RNNT or TDT) speech recognition model.")


def _set_decoding(nemo_model, use_cuda_graphs: bool, boosting: bool = False) -> None:
    from omegaconf import open_dict

    cfg = nemo_model.cfg.decoding
    with open_dict(cfg):
        cfg.strategy = "greedy_batch"
        cfg.compute_timestamps = True
        cfg.greedy.loop_labels = True
        cfg.greedy.use_cuda_graph_decoder = use_cuda_graphs
        # Phrase boosting (the vocabulary) per utterance, file or request: lists are added to and
        # removed from one multi-model without rebuilding the decoder (engine/recognize/vocabulary.py).
        # Only when asked for: every decode then advances the multi-model too (a first CI run
        # with it always on saw a 25-minute file's peak memory pass 2 GB; re-measured later, the
        # peak was the same with and without). Without Triton (Windows) it would also turn CUDA
        # graphs off for every decode: there the GPU keeps its graphs and the vocabulary is not
        # offered.
        cfg.greedy.enable_per_stream_biasing = boosting and (not use_cuda_graphs or _triton_available())
    with _quiet_nemo():
        if "decoder_type" in nemo_model.change_decoding_strategy.__code__.co_varnames:
            nemo_model.change_decoding_strategy(cfg, decoder_type="rnnt", verbose=False)
        else:
            nemo_model.change_decoding_strategy(cfg, verbose=False)


def _triton_available() -> bool:
    from nemo.core.utils.optional_libs import TRITON_AVAILABLE

    return bool(TRITON_AVAILABLE)


def probe_audio(seconds: float, seed: int = 0) -> np.ndarray:
    """Speech-like sound for warm-ups: a gliding harmonic voice in syllable-rate bursts, with
    noise. (A steady tone gives no text at all, which would make a self-test compare nothing.)"""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    pitch = 120 + 40 * np.sin(2 * np.pi * 0.7 * t + seed)
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    bursts = np.clip(np.sin(2 * np.pi * 4 * t + rng.uniform(0, 6)), 0, None)
    audio = 0.08 * voice * bursts + 0.01 * rng.standard_normal(len(t))
    return audio.astype(np.float32)


def self_test_cuda_graphs(model: ParakeetModel, run) -> None:
    """Decode with *run* once without CUDA graphs and once with them (capturing the graphs that
    stay); graphs that fail step down, graphs that give other text are turned off."""
    decoding = model.nemo.decoding.decoding
    decoding.disable_cuda_graphs()
    reference = _texts(run())
    decoding.maybe_enable_cuda_graphs()
    model.cuda_graphs = _graphs_on(decoding)
    with_graphs = _texts(model.decode(run))
    if model.cuda_graphs and with_graphs != reference:
        decoding.disable_cuda_graphs()
        model.cuda_graphs = False
        model.notice("Fast GPU decoding (CUDA graphs) gave different text in its self-test and is off.")


def _graphs_on(decoding) -> bool:
    computer = getattr(decoding, "decoding_computer", None)
    return getattr(computer, "cuda_graphs_mode", None) is not None


def _texts(hypotheses) -> list[str]:
    if isinstance(hypotheses, tuple):
        hypotheses = hypotheses[0]
    return [h.text for h in hypotheses]


class CudaMemory:
    """The GPU memory readings the warm-up sizes batches from."""

    def start(self) -> None:
        import torch

        torch.cuda.synchronize()
        self._before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()

    def peak_since_start(self) -> int:
        import torch

        return torch.cuda.max_memory_allocated() - self._before

    def room(self) -> int:
        """Free memory on the card plus what PyTorch holds cached but unused."""
        import torch

        free, _total = torch.cuda.mem_get_info()
        return free + torch.cuda.memory_reserved() - torch.cuda.memory_allocated()


def _warm_up_gpu(model: ParakeetModel, memory: CudaMemory | None = None) -> None:
    """Warm up at the shapes real use reaches, test the CUDA graphs on them, and size batches:
    a batch of two pieces (the self-test), a piece as long as file pieces get, and streaming
    steps with the GPU preset that carry the decoder state."""
    memory = memory or CudaMemory()
    pair = [probe_audio(8.0, seed=1), probe_audio(5.0, seed=2)]
    encoded, lengths = model.encode_batch(pair)

    def decode(encoded=encoded, lengths=lengths):  # the decoder as it is at each call (graphs on or off)
        return model.nemo.decoding.rnnt_decoder_predictions_tensor(
            encoder_output=encoded, encoded_lengths=lengths, return_hypotheses=True)

    self_test_cuda_graphs(model, decode)
    del encoded, lengths, decode

    seconds = model.max_piece_seconds
    memory.start()
    model.recognize([probe_audio(seconds, seed=3)])
    per_second = max(1, memory.peak_since_start()) / seconds
    model.batch_seconds = batch_seconds_for(memory.room(), per_second, seconds)

    # Streaming steps of the route the model streams by (buffered or cache-aware), GPU preset.
    streaming = transcriber_for(model, route_config(GPU_DEFAULT, model))
    audio = probe_audio(4 * GPU_DEFAULT.chunk + GPU_DEFAULT.right, seed=4)
    step = round(GPU_DEFAULT.chunk * SAMPLE_RATE)
    for start in range(0, len(audio), step):
        streaming.accept(audio[start : start + step])
    streaming.finish()
    logger.info("GPU warm-up: %.0f MB per second of audio in a batch; file batches of %.0f s; CUDA graphs %s",
                per_second / 2**20, model.batch_seconds, "on" if model.cuda_graphs else "off")


def batch_seconds_for(free_bytes: float, bytes_per_second: float, piece_seconds: float) -> float:
    """Seconds of padded audio a file batch may hold in *free_bytes* of GPU memory."""
    fits = _BATCH_MEMORY_SHARE * free_bytes / bytes_per_second
    return float(min(MAX_BATCH_SECONDS, max(piece_seconds, fits // piece_seconds * piece_seconds)))
