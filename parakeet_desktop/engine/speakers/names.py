"""Speakers named from short reference clips: a speaker embedding (NeMo's TitaNet,
``EncDecSpeakerLabelModel``) of each reference and of each speaker's own speech, compared by
cosine similarity. A speaker takes the name of the reference most like it when the similarity
reaches the threshold and no more alike speaker took that name first; the others keep their
default names. Every decision is reported with its similarity and the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE
from ..model import DEFAULT_SPEAKER_THRESHOLD, ModelError
from ..recognize import Transcript
from .diarizer import on_the_gpu

DEFAULT_THRESHOLD = DEFAULT_SPEAKER_THRESHOLD  # the registry's, where the command line reads it cheaply
SHORTEST_REFERENCE_SECONDS = 1.0
LONGEST_REFERENCE_SECONDS = 60.0
# Of each speaker's own speech, at most this much is embedded (its longest stretches first).
_SPEAKER_SECONDS = 30.0


@dataclass(frozen=True)
class Match:
    """How one speaker was named: the reference most like it, its similarity, and whether that
    reached the threshold (then *name* is the reference's name)."""

    speaker: int
    name: str | None
    best: str | None
    similarity: float
    threshold: float
    # Why no reference was compared, when none was: too little speech, or every name taken.
    unmatched: str | None = None

    def as_dict(self) -> dict:
        return {"speaker": self.speaker, "name": self.name, "closest_reference": self.best,
                "similarity": round(self.similarity, 3), "threshold": self.threshold,
                **({"unmatched": self.unmatched} if self.unmatched else {})}


class SpeakerEmbedder:
    """A loaded TitaNet (or any ``EncDecSpeakerLabelModel``): one embedding per clip."""

    def __init__(self, nemo_model, name: str = "embedder") -> None:
        self.nemo_model = nemo_model
        self.name = name

    def embed(self, samples: np.ndarray) -> np.ndarray:
        """The unit-length embedding of 16 kHz mono *samples*."""
        import torch

        device = next(self.nemo_model.parameters()).device
        signal = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)).unsqueeze(0).to(device)
        with torch.inference_mode():
            _, embedding = self.nemo_model.forward(input_signal=signal,
                                                   input_signal_length=torch.tensor([signal.shape[1]], device=device))
        vector = embedding[0].float().cpu().numpy()
        return vector / max(1e-9, float(np.linalg.norm(vector)))


def check_reference(name: str, samples: np.ndarray) -> None:
    """Raises ValueError when *samples* cannot serve as *name*'s reference clip."""
    seconds = len(samples) / SAMPLE_RATE
    if seconds < SHORTEST_REFERENCE_SECONDS:
        raise ValueError(f"The reference clip for {name} is {seconds:.1f} s long; it needs at least "
                         f"{SHORTEST_REFERENCE_SECONDS:.0f} s of their voice.")
    if not np.any(np.abs(samples) > 1e-3):
        raise ValueError(f"The reference clip for {name} is silent.")


def speaker_speech(transcript: Transcript, samples: np.ndarray, speaker: int) -> np.ndarray:
    """Up to ``_SPEAKER_SECONDS`` of *speaker*'s own segments, longest first."""
    spans = sorted(((s.start, s.end) for s in transcript.segments if s.speaker == speaker),
                   key=lambda span: span[0] - span[1])
    parts, total = [], 0
    for start, end in spans:
        piece = samples[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
        parts.append(piece)
        total += len(piece)
        if total >= _SPEAKER_SECONDS * SAMPLE_RATE:
            break
    return np.concatenate(parts)[: int(_SPEAKER_SECONDS * SAMPLE_RATE)] if parts else np.zeros(0, np.float32)


def match_references(embedder: SpeakerEmbedder, transcript: Transcript, samples: np.ndarray,
                     references: list[tuple[str, np.ndarray]], threshold: float = DEFAULT_THRESHOLD) -> list[Match]:
    """One :class:`Match` per speaker of *transcript*: names given greedily, the most alike
    speaker and reference first, each name at most once."""
    refs = [(name, embedder.embed(clip[: int(LONGEST_REFERENCE_SECONDS * SAMPLE_RATE)])) for name, clip in references]
    speakers = range(len(transcript.speakers))
    own = {s: speech for s in speakers if len(speech := speaker_speech(transcript, samples, s)) >= SAMPLE_RATE // 2}
    vectors = {s: embedder.embed(speech) for s, speech in own.items()}
    pairs = sorted(((float(vectors[s] @ ref), s, name) for s in vectors for name, ref in refs), reverse=True)
    named: dict[int, tuple[str, float]] = {}
    taken: set[str] = set()
    for similarity, speaker, name in pairs:
        if similarity >= threshold and speaker not in named and name not in taken:
            named[speaker] = (name, similarity)
            taken.add(name)
    matches = []
    for speaker in speakers:
        if speaker in named:
            name, similarity = named[speaker]
            matches.append(Match(speaker, name, name, similarity, threshold))
        elif speaker not in vectors:
            matches.append(Match(speaker, None, None, 0.0, threshold, "too little of their speech to compare"))
        elif left := [(sim, name) for sim, s, name in pairs if s == speaker and name not in taken]:
            similarity, best = max(left)
            matches.append(Match(speaker, None, best, similarity, threshold))
        else:
            matches.append(Match(speaker, None, None, 0.0, threshold, "each reference went to a speaker more like it"))
    return matches


def load_embedder(ref: str, device: str = "auto", progress=None, cancel=None) -> SpeakerEmbedder:
    """A speaker embedding model by hub id or ``.nemo`` path (GPU when there is one).

    Raises:
        ModelError: missing, damaged, not a speaker embedding model, or not downloadable.
    """
    from ..model import restore

    nemo_model = restore(ref, progress, cancel)
    name = Path(ref).name if ref.endswith(".nemo") else ref
    if type(nemo_model).__name__ != "EncDecSpeakerLabelModel":
        raise ModelError(f"{name} is a {type(nemo_model).__name__}, not a speaker embedding model (TitaNet); "
                         "give one such as nvidia/speakerverification_en_titanet_large.")
    nemo_model.eval()
    on_the_gpu(nemo_model, device, "speaker embedder")
    return SpeakerEmbedder(nemo_model, name)
