"""The models the app knows by name, and where a model reference points. Imports nothing heavy."""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelInfo:
    """A model the app knows by name."""

    id: str
    title: str
    languages: str
    size_mb: int
    description: str
    language_codes: tuple[str, ...] = ("en",)
    # Steps (ms) of a cache-aware streaming model, one per look-ahead it was trained with; empty
    # for an offline model (streamed by re-encoding buffers). Loading reads them from the
    # encoder itself; these are what the app can say before the download.
    streaming_steps_ms: tuple[int, ...] = ()
    # Ends an utterance with its own end-of-utterance token.
    end_of_utterance: bool = False
    # GPU memory it takes to recognise (weights in bfloat16, activations of a few minutes of
    # audio, CUDA's own context), in GB: an estimate for choosing a GPU, not a limit.
    vram_gb: float = 2.5

    @property
    def streams_natively(self) -> bool:
        return bool(self.streaming_steps_ms)


# ISO 639-1 codes and names of the languages Parakeet TDT 0.6B v3 was trained on.
LANGUAGE_NAMES = {
    "bg": "bulgarian", "cs": "czech", "da": "danish", "de": "german", "el": "greek", "en": "english",
    "es": "spanish", "et": "estonian", "fi": "finnish", "fr": "french", "hr": "croatian",
    "hu": "hungarian", "it": "italian", "lt": "lithuanian", "lv": "latvian", "mt": "maltese",
    "nl": "dutch", "pl": "polish", "pt": "portuguese", "ro": "romanian", "ru": "russian",
    "sk": "slovak", "sl": "slovenian", "sv": "swedish", "uk": "ukrainian",
}


REGISTRY: tuple[ModelInfo, ...] = (
    ModelInfo("nvidia/parakeet-tdt-0.6b-v3", "Parakeet TDT 0.6B v3", "25 European languages", 2400,
              "Multilingual, with punctuation and capitals. Best on an NVIDIA GPU.",
              tuple(LANGUAGE_NAMES)),
    ModelInfo("nvidia/parakeet-tdt-0.6b-v2", "Parakeet TDT 0.6B v2", "English", 2400,
              "English only; slightly more accurate English than v3."),
    ModelInfo("nvidia/parakeet-tdt_ctc-110m", "Parakeet TDT-CTC 110M", "English", 460,
              "Small and fast; the practical choice without a GPU.", vram_gb=1.0),
    ModelInfo("nvidia/nemotron-speech-streaming-en-0.6b", "Nemotron Speech Streaming 0.6B", "English", 2400,
              "Streams natively: live captions in steps of 80 ms to 1.1 s, with punctuation and capitals; "
              "keeps up with speech on a two-core CPU at 1.1 s steps.",
              streaming_steps_ms=(80, 160, 560, 1120)),
    ModelInfo("nvidia/parakeet_realtime_eou_120m-v1", "Parakeet Realtime EOU 120M", "English", 480,
              "Streams natively in 80-160 ms steps and hears where an utterance ends; no punctuation.",
              streaming_steps_ms=(80, 160), end_of_utterance=True, vram_gb=1.0),
    ModelInfo("nvidia/parakeet-tdt-1.1b", "Parakeet TDT 1.1B", "English", 4300,
              "English only; the largest Parakeet, for a GPU with memory to spare; no punctuation.",
              vram_gb=4.5),
    ModelInfo("nvidia/parakeet-rnnt-1.1b", "Parakeet RNNT 1.1B", "English", 4300,
              "English only; the 1.1B model with RNN-T decoding (slower to decode than TDT); no punctuation.",
              vram_gb=4.5),
    ModelInfo("nvidia/parakeet-rnnt-0.6b", "Parakeet RNNT 0.6B", "English", 2400,
              "English only; RNN-T decoding; no punctuation.", vram_gb=2.5),
)
# Models beside the recognizer that tell speakers apart (engine/speakers/): Sortformer diarizers
# (SortformerEncLabelModel, up to four speakers in order of arrival) and TitaNet speaker
# embeddings (EncDecSpeakerLabelModel), for naming speakers from reference clips.
SPEAKER_MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("nvidia/diar_streaming_sortformer_4spk-v2.1", "Streaming Sortformer 4spk v2.1", "any", 470,
              "Who speaks when, up to four speakers; streams with a speaker cache, so long files "
              "take bounded memory.", vram_gb=1.0),
    ModelInfo("nvidia/diar_sortformer_4spk-v1", "Sortformer 4spk v1", "any", 470,
              "Who speaks when, up to four speakers, for recordings of up to about 90 s at a time.",
              vram_gb=1.0),
    ModelInfo("nvidia/speakerverification_en_titanet_large", "TitaNet Large", "any", 100,
              "Speaker embeddings: names speakers from short reference clips of their voices.", vram_gb=0.5),
)
DEFAULT_DIARIZATION_MODEL = SPEAKER_MODELS[0].id
DEFAULT_SPEAKER_EMBEDDING_MODEL = SPEAKER_MODELS[2].id
# TitaNet's cosine similarity from which a speaker takes a reference clip's name (NeMo's
# verify_speakers uses 0.7 for same-or-not on clean speech; naming compares every speaker with
# every reference and takes the best, so it can be a little lower).
DEFAULT_SPEAKER_THRESHOLD = 0.6

# Short names for models, as the service's clients and the command line may give them.
ALIASES = {"parakeet": "nvidia/parakeet-tdt-0.6b-v3", "parakeet-0.6b": "nvidia/parakeet-tdt-0.6b-v3",
           "parakeet-1.1b": "nvidia/parakeet-tdt-1.1b"}
DEFAULT_MODEL_ID = REGISTRY[0].id
# A streaming model's step on a CPU (engine/recognize/cache_aware.py: CPU_STEP), in milliseconds.
CPU_STEP_MS = 1120
SMALL_MODEL_ID = "nvidia/parakeet-tdt_ctc-110m"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_alias(ref: str) -> str:
    """The model id an alias stands for; any other reference as it is (a file of that name
    in the current folder is the file)."""
    if ref in ALIASES and not Path(ref).exists():
        return ALIASES[ref]
    return ref


def known_model(ref: str) -> ModelInfo | None:
    """The registry's entry for a model id (or its alias, bare name, or ``.nemo`` file's name)."""
    ref = resolve_alias(ref)
    name = Path(ref).name
    for info in REGISTRY:
        if ref == info.id or name in (info.id.rsplit("/", 1)[-1], info.id.rsplit("/", 1)[-1] + ".nemo"):
            return info
    return None


def model_title(ref: str) -> str:
    """A model as people know it: the registry's title, else a file's name (never a long path)."""
    info = known_model(ref)
    return info.title if info else Path(ref).name if is_model_file(ref) else ref


def has_nvidia_gpu() -> bool:
    """Whether an NVIDIA driver is installed (a quick look, without importing torch)."""
    if sys.platform.startswith("linux") and os.path.exists("/proc/driver/nvidia/version"):
        return True
    return shutil.which("nvidia-smi") is not None


def recommended_model(gpu: bool) -> str:
    """The model that suits a computer: the standard one with an NVIDIA GPU, the small one without."""
    return DEFAULT_MODEL_ID if gpu else SMALL_MODEL_ID


def model_advice(info: ModelInfo, gpu: bool) -> str:
    """Whether *info* suits this computer, in a few words ("" when there is nothing to say)."""
    if info.id == recommended_model(gpu):
        return ("recommended for this computer (NVIDIA GPU found)" if gpu
                else "recommended for this computer (no NVIDIA GPU: it runs on the CPU)")
    if not gpu and info.streams_natively:
        step = min(info.streaming_steps_ms, key=lambda ms: (abs(ms - CPU_STEP_MS), ms))
        return f"streams live on the CPU too ({step} ms steps), with text at once when you stop"
    if not gpu and info.size_mb > 1000:
        return "slower without an NVIDIA GPU: the 110M model answers sooner"
    return ""


def model_languages(name: str, vocabulary: list[str] | None) -> tuple[str, ...] | None:
    """The language codes a model recognises: the registry's for a known model; English for a
    model whose vocabulary spells only English letters; None (not known) otherwise."""
    if (info := known_model(name)) is not None:
        return info.language_codes
    pieces = [piece.replace("▁", "") for piece in vocabulary or () if not piece.startswith("<")]
    if pieces and all(piece.isascii() for piece in pieces):
        return ("en",)
    return None


def is_model_file(ref: str) -> bool:
    """Whether *ref* names a local ``.nemo`` file rather than a model id."""
    return ref.endswith(".nemo") or Path(ref).expanduser().exists()


def cached_model_file(model_id: str) -> Path | None:
    """The ``.nemo`` file of a hub model in the Hugging Face cache, or None if not downloaded."""
    from huggingface_hub import try_to_load_from_cache

    from .download import hub_cache_dir, model_filename

    found = try_to_load_from_cache(repo_id=model_id, filename=model_filename(model_id), cache_dir=hub_cache_dir())
    return Path(found) if isinstance(found, str) else None
