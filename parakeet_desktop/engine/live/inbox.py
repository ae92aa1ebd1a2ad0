"""What reaches the live engine's thread through its inbox, besides the microphone's blocks: one
small frozen dataclass per command, in one closed union (:data:`Command`) that the engine
handles with ``match`` (a command it does not handle is a type error, not a stop).

Callers never build these: they call ``LiveEngine``'s methods (``start``, ``submit``,
``open_stream``...), which set the flags that make the command urgent and post it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dictation import LiveSettings
from .modes import Mode
from .work import FileJob, Stream


@dataclass(frozen=True)
class Start:
    """Start dictating (a hotkey press)."""

    mode: Mode = Mode.PUSH_TO_TALK


@dataclass(frozen=True)
class Stop:
    """Finish the utterance in progress (a key release)."""


@dataclass(frozen=True)
class Toggle:
    """Start, or finish and stop listening."""

    mode: Mode = Mode.HANDS_FREE


@dataclass(frozen=True)
class ContinueHandsFree:
    """Go on listening hands-free after a spoken command ended an utterance."""


@dataclass(frozen=True)
class Reconfigure:
    """New gate, streaming and final-pass settings, perhaps another microphone."""

    settings: LiveSettings
    device_name: str | None


@dataclass(frozen=True)
class SubmitJob:
    job: FileJob


@dataclass(frozen=True)
class OpenStream:
    stream: Stream


@dataclass(frozen=True)
class StopStream:
    """Its last final, then StreamStopped."""

    stream: Stream


@dataclass(frozen=True)
class CloseStream:
    """The client went away: no final."""

    stream: Stream


@dataclass(frozen=True)
class Shutdown:
    pass


@dataclass(frozen=True)
class StreamAudio:
    """16 kHz mono samples of a stream, in the order they came."""

    stream: Stream
    samples: np.ndarray


Command = (Start | Stop | Toggle | ContinueHandsFree | Reconfigure | SubmitJob | OpenStream | StopStream
           | CloseStream | Shutdown)

# Commands that end the dictation in progress: the stop flag that made them urgent is theirs.
STOPPING = Stop | Toggle | Shutdown
# Commands that want the model for dictation.
STARTING = Start | Toggle
