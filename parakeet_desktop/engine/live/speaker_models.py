"""The models beside the recognizer that tell speakers apart, for the engine's file jobs:
loaded on the first job that asks for speakers (on the recognizer's device), kept for the next,
and given back with the recognizer when the engine rests (the next job loads them again)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from ..model import DEFAULT_DIARIZATION_MODEL, DEFAULT_SPEAKER_EMBEDDING_MODEL
from ..recognize import Flag, Transcript
from ..speakers import Diarizer, SpeakerEmbedder, SpeakerLabeller, SpeakerRequest, load_diarizer, load_embedder

logger = logging.getLogger(__name__)


class SpeakerModels:
    """The diarizer and the speaker embedder by reference (hub id or ``.nemo`` path)."""

    def __init__(self, diarization_model: str = DEFAULT_DIARIZATION_MODEL,
                 embedding_model: str = DEFAULT_SPEAKER_EMBEDDING_MODEL, device: Callable[[], str] = lambda: "cpu"):
        self.diarization_model = diarization_model
        self.embedding_model = embedding_model
        self.device = device  # the recognizer's, when a model is loaded
        self._diarizer: Diarizer | None = None
        self._embedder: SpeakerEmbedder | None = None
        self._lock = threading.Lock()  # jobs run on the engine thread; a gathered check may not

    def diarizer(self) -> Diarizer:
        """Raises ModelError when it cannot be loaded."""
        with self._lock:
            if self._diarizer is None:
                self._diarizer = load_diarizer(self.diarization_model, self.device())
            return self._diarizer

    def embedder(self) -> SpeakerEmbedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = load_embedder(self.embedding_model, self.device())
            return self._embedder

    def finish(self, request: SpeakerRequest | None, cancel: Flag | None = None,
               between: Callable[[], None] | None = None) -> Callable[[Transcript, np.ndarray], Transcript] | None:
        """The file transcriber's last step for *request* (None: no speakers asked for). The
        models load when the first transcript is ready; a model that cannot load fails the
        files with its message. *cancel* stops a long file's diarization between chunks, and
        *between* is called after each chunk (the engine serves dictation and streams first)."""
        if request is None:
            return None

        def label(transcript: Transcript, samples: np.ndarray) -> Transcript:
            embedder = self.embedder() if request.references else None
            labeller = SpeakerLabeller(self.diarizer(), request, embedder)
            return labeller(transcript, samples, (lambda _done: between()) if between is not None else None, cancel)

        return label

    def rest(self) -> None:
        """Let the models go (their memory with them); the next job that asks loads them again."""
        with self._lock:
            if self._diarizer is not None or self._embedder is not None:
                logger.info("The speaker models are let go while the engine rests")
            self._diarizer = self._embedder = None
