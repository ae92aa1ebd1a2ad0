"""The work other clients hand the live engine, and what it answers: file jobs with their
priority and progress, and real-time streams. Plain types, shared by the engine and its callers
(the file window, the local service) without either importing the other."""

from __future__ import annotations

import enum
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..recognize import AudioInput, Vocabulary
from ..speakers import SpeakerRequest
from .dictation import DictationSession, LiveSettings, Mode
from .events import Event


class Priority(enum.IntEnum):
    """Which file work goes first (lower first); dictation and streams come before both."""

    REQUEST = 1  # a client is waiting for the answer
    JOB = 2  # a long job, the file window's files


@dataclass
class FileJob:
    paths: list[Path | AudioInput]
    priority: Priority = Priority.JOB
    # When set, this job's FileProgress / FileDone events go here instead of the engine's emit
    # (called on the engine thread).
    listener: Callable[[Event], None] | None = None
    id: int = field(default_factory=itertools.count(1).__next__)
    cancel: threading.Event = field(default_factory=threading.Event)
    vocabulary: Vocabulary | None = None  # a request's own phrases; the model's in force when None
    together: bool = False  # its files' pieces share batches (short requests the service gathered)
    speakers: SpeakerRequest | None = None  # who said what, when asked for (engine/speakers/)

    @property
    def seconds(self) -> float | None:
        """Its audio's length, when all of it is decoded already (None for files on disk)."""
        decoded = [p for p in self.paths if isinstance(p, AudioInput)]
        return sum(p.duration for p in decoded) if len(decoded) == len(self.paths) else None


class Stream:
    """A real-time audio stream from another program, recognised as dictation is: its own speech
    gate, streaming recogniser and final pass. With *endpointing*, each pause ends an utterance
    (hands-free); without, one utterance runs until :meth:`LiveEngine.stop_stream`.

    Its events (Partial, Final, ErrorEvent, ... and StreamStopped) go to *listener*, called on
    the engine thread.
    """

    def __init__(self, listener: Callable[[Event], None], *, endpointing: bool = False,
                 settings: LiveSettings | None = None, vocabulary: Vocabulary | None = None) -> None:
        self.id = next(_stream_ids)
        self.vocabulary = vocabulary  # the client's own phrases; the model's in force when None
        self.listener = listener
        self.mode = Mode.HANDS_FREE if endpointing else Mode.PUSH_TO_TALK
        self.settings = settings or LiveSettings()
        # Set when the client went away: a step in flight stops before the encoder's next layer.
        self.closed = threading.Event()
        # Samples given to the engine, and taken from its inbox: the difference is the backlog
        # a sender may wait on before sending more (each counter has one writer).
        self.sent = 0
        self.taken = 0
        self.session: DictationSession | None = None  # made on the engine thread


_stream_ids = itertools.count(1)
