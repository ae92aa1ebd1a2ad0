"""What a user asks of speakers (how many, names, reference clips) and the step that gives a
finished transcript its speakers: diarize its audio, attribute its words, name the speakers."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..recognize import Flag, Transcript
from .attribution import SPEAKER_COUNTS, check_names, with_speakers
from .diarizer import Diarizer
from .names import DEFAULT_THRESHOLD, SpeakerEmbedder, check_reference, match_references


def speaker_count(text: str) -> int | None:
    """"auto" (None) or 2-4, as a user writes it.

    Raises:
        ValueError: anything else, with what is accepted.
    """
    value = text.strip().lower()
    if value == "auto":
        return None
    if value.isdigit() and int(value) in SPEAKER_COUNTS:
        return int(value)
    if value.isdigit() and int(value) > max(SPEAKER_COUNTS):
        raise ValueError(f"{value} speakers cannot be told apart: the diarization model tells apart at most "
                         f"{max(SPEAKER_COUNTS)}. Choose auto, 2, 3 or 4.")
    raise ValueError(f"{text!r} is not a number of speakers: choose auto, 2, 3 or 4.")


@dataclass(frozen=True)
class SpeakerRequest:
    """Speakers as asked for: *count* None for as many as are heard; *names* for the speakers in
    order of first word; *references* (name, 16 kHz clip) to name speakers by their voices;
    *letters*: unnamed speakers are "A", "B"... (OpenAI's labels) instead of "Speaker 1"..."""

    count: int | None = None
    names: tuple[str, ...] = ()
    references: tuple[tuple[str, np.ndarray], ...] = ()
    threshold: float = DEFAULT_THRESHOLD
    letters: bool = False

    def __post_init__(self) -> None:
        if self.count is not None and self.count not in SPEAKER_COUNTS:
            raise ValueError(f"{self.count} speakers: choose 2, 3 or 4 (or auto).")
        check_names(self.names)
        check_names([name for name, _ in self.references])
        for name, clip in self.references:
            check_reference(name, clip)
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"The similarity threshold {self.threshold} must lie between 0 and 1.")


class SpeakerLabeller:
    """Gives transcripts their speakers with a loaded diarizer (and embedder, for references)."""

    def __init__(self, diarizer: Diarizer, request: SpeakerRequest, embedder: SpeakerEmbedder | None = None) -> None:
        if request.references and embedder is None:
            raise ValueError("Reference clips need a speaker embedding model.")
        self.diarizer = diarizer
        self.request = request
        self.embedder = embedder

    def __call__(self, transcript: Transcript, samples: np.ndarray, progress=None,
                 cancel: Flag | None = None) -> Transcript:
        request = self.request
        diarization = self.diarizer.diarize(samples, progress, cancel)
        labelled = with_speakers(transcript, diarization, request.count, request.names, request.letters)
        if not request.references or self.embedder is None:
            return labelled
        matches = match_references(self.embedder, labelled, samples, list(request.references), request.threshold)
        names = {match.speaker: match.name for match in matches if match.name}
        speakers = [names.get(number, name) for number, name in enumerate(labelled.speakers)]
        return replace(labelled, speakers=speakers, speaker_matches=[match.as_dict() for match in matches])
