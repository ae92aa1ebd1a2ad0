"""The speech model: which models there are (registry), getting one (download), the device and
number format it runs in (devices), loading it ready for every use (loader), the model itself
(speech: recognition in batches; gpu: out of memory, its GPU memory given back and taken again),
and the CPU's faster paths (packed, lean_encoder, quantize, memory)."""

from .devices import DEVICE_CHOICES, Device, plan_device, probe_cuda
from .gpu import is_out_of_memory
from .loader import load_model, restore
from .registry import (
    CPU_STEP_MS,
    DEFAULT_DIARIZATION_MODEL,
    DEFAULT_MODEL_ID,
    DEFAULT_SPEAKER_EMBEDDING_MODEL,
    DEFAULT_SPEAKER_THRESHOLD,
    LANGUAGE_NAMES,
    REGISTRY,
    SPEAKER_MODELS,
    ModelInfo,
    cached_model_file,
    has_nvidia_gpu,
    is_model_file,
    known_model,
    model_advice,
    model_languages,
    model_title,
    recommended_model,
    resolve_alias,
)
from .speech import ModelError, ParakeetModel, Recognition, RecognitionCancelled

__all__ = [
    "Device", "cached_model_file", "CPU_STEP_MS", "DEFAULT_DIARIZATION_MODEL", "DEFAULT_MODEL_ID",
    "DEFAULT_SPEAKER_EMBEDDING_MODEL", "DEFAULT_SPEAKER_THRESHOLD", "SPEAKER_MODELS", "DEVICE_CHOICES",
    "has_nvidia_gpu",
    "is_model_file", "is_out_of_memory", "known_model", "LANGUAGE_NAMES", "load_model", "model_advice",
    "model_languages", "model_title", "ModelError", "ModelInfo", "ParakeetModel", "plan_device", "probe_cuda",
    "Recognition", "RecognitionCancelled", "recommended_model", "REGISTRY", "resolve_alias", "restore",
]
