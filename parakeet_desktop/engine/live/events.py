"""Everything the engine tells its callers, in one closed union: :data:`Event`.

The live engine, a dictation session and a stream emit only these; each consumer (the desktop
app's engine thread, ``listen``, the local service's streams and log) ends its ``match`` with
``assert_never``, so a new event type is a type error (mypy runs in CI) wherever it is not
handled. Plain frozen dataclasses and enums: importable without numpy or torch.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from ..recognize import Transcript, Word
from .modes import Mode, SessionState


@dataclass(frozen=True)
class StateChanged:
    state: SessionState
    mode: Mode


@dataclass(frozen=True)
class Level:
    """Input level of the last block, in dB below full scale (-100 for silence)."""

    dbfs: float


@dataclass(frozen=True)
class Partial:
    """The caption of the utterance in progress. ``certain``: when the session was asked for
    them (``LiveSettings.certain_words``), the utterance's words that its final text will keep,
    timed in seconds of the audio fed since listening started; empty while none is certain."""

    utterance: int
    text: str
    certain: tuple[Word, ...] = ()


class FinalReason(enum.StrEnum):
    """What ended an utterance."""

    STOP = "stop"  # a key release, a stop command, the end of a stream
    PAUSE = "pause"  # a hands-free endpoint
    END_OF_UTTERANCE = "end_of_utterance"  # hands-free: the model's own end-of-utterance token
    DEVICE = "device"  # the microphone went away


@dataclass(frozen=True)
class Final:
    """The final text of an utterance; empty when a push-to-talk press heard no speech.

    ``words`` times are seconds into the speech that reached the model (pauses are shortened);
    ``start``, ``end`` and ``input_words`` are seconds into the audio the session was fed since it
    started listening (for a stream of the local service, since its ``start``).
    """

    utterance: int
    text: str
    words: tuple[Word, ...]
    seconds: float
    full_context: bool
    reason: FinalReason
    start: float = 0.0
    end: float = 0.0
    input_words: tuple[Word, ...] = ()
    # The utterance's audio on disk until its text is safe: delete it (engine.audio's discard_spool) then.
    spool: Path | None = None


@dataclass(frozen=True)
class ErrorEvent:
    message: str


@dataclass(frozen=True)
class MicrophoneState:
    """Whether a microphone is open for dictation, and what to tell the user."""

    available: bool
    message: str


@dataclass(frozen=True)
class Notice:
    """Something the user should know that is not an error: the model moved to the CPU, a
    number format was given up, the vocabulary is not used, speech gave no text, the
    microphone chosen."""

    message: str


@dataclass(frozen=True)
class FileProgress:
    job: int
    path: Path
    fraction: float
    text: str = ""  # the file's text recognised so far, from its start (see files.Progress)


class Outcome(enum.Enum):
    """How a file of a job ended."""

    DONE = "done"  # a transcript
    FAILED = "failed"  # the file could not be read or recognised (the error says why)
    CANCELLED = "cancelled"  # its job was cancelled
    SHUT_DOWN = "shut down"  # the engine stopped before it was done

    @property
    def cancelled(self) -> bool:
        """Not done because its job, or the engine, stopped: not the file's fault."""
        return self in (Outcome.CANCELLED, Outcome.SHUT_DOWN)


@dataclass(frozen=True)
class FileDone:
    """A file of a job is finished: its transcript, or why there is none."""

    job: int
    path: Path
    transcript: Transcript | None
    error: str | None  # for FAILED
    outcome: Outcome = Outcome.DONE


@dataclass(frozen=True)
class StreamStopped:
    """A stream's last final text is out; it may be started again."""

    stream: int


@dataclass(frozen=True)
class ModelResting:
    """The model rests (its GPU memory given back) or is back at work."""

    resting: bool
    seconds: float = 0.0  # how long the move took


@dataclass(frozen=True)
class WakingUp:
    """A wake-up is taking longer than a moment: the words will come once it is done."""


Event = (StateChanged | Level | Partial | Final | ErrorEvent | MicrophoneState | Notice | FileProgress | FileDone
         | StreamStopped | ModelResting | WakingUp)
