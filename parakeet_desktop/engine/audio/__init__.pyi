"""Audio in: files decoded within bounds (decode), the microphone (capture) and a file played as one
(file_device), the speech gate (vad), and the spool that keeps an utterance's audio on disk while
it is spoken (spool)."""

from .capture import (
    DeviceChange,
    DeviceEvent,
    Microphone,
    MicrophoneError,
    PreRoll,
    RawBlock,
    StreamEnded,
    list_input_devices,
)
from .decode import (
    MEDIA_SUFFIXES,
    SAMPLE_RATE,
    AudioError,
    AudioTooLong,
    GrowingBuffer,
    MonoResampler,
    SpillFailed,
    load_audio,
    resample,
)
from .file_device import FileSoundDevice
from .spool import Spool, discard_spool, read_spool, spool_leftovers
from .vad import Endpoint, GateConfig, SpeechGate, speech_frames

__all__ = [
    "AudioError", "AudioTooLong", "DeviceChange", "DeviceEvent", "discard_spool", "Endpoint", "FileSoundDevice",
    "GateConfig", "GrowingBuffer", "list_input_devices", "load_audio", "MEDIA_SUFFIXES", "Microphone",
    "MicrophoneError", "MonoResampler", "PreRoll", "RawBlock", "resample", "SAMPLE_RATE", "speech_frames",
    "SpeechGate", "SpillFailed", "Spool", "spool_leftovers", "read_spool", "StreamEnded",
]
