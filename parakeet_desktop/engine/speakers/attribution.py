"""Speakers given to a transcript: each word the speaker most active over its time, segments
split where the speaker changes, names for the speakers.

The recognizer's word times are right already (engine/recognize/transcript.py); the diarizer's
activity (diarizer.py) is summed over each word's frames, so a word spoken over someone else goes
to whoever is louder in the model's eyes. A word no speaker is active over (a blip the diarizer
missed) takes the speaker of the nearest turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ..recognize import Segment, Transcript, Word
from .diarizer import Diarization

# How many speakers a user may ask for ("auto" is None); the models tell apart at most four.
SPEAKER_COUNTS = (2, 3, 4)
# Below this summed activity over a word, no speaker is taken to be heard in it.
_HEARD = 0.05


def default_name(speaker: int, letters: bool = False) -> str:
    """"Speaker 1", "Speaker 2"... (the app and the command line), or "A", "B"... (OpenAI's
    labels for speakers it has no name for)."""
    return chr(ord("A") + speaker) if letters else f"Speaker {speaker + 1}"


def parse_names(text: str) -> list[str]:
    """Names as a user writes them: separated by commas, blanks skipped.

    Raises:
        ValueError: more names than the diarizer can tell speakers apart, or one name twice.
    """
    names = [name.strip() for name in text.split(",") if name.strip()]
    check_names(names)
    return names


def check_names(names: Sequence[str]) -> None:
    if len(names) > max(SPEAKER_COUNTS):
        raise ValueError(f"{len(names)} speaker names were given; at most {max(SPEAKER_COUNTS)} speakers "
                         "can be told apart.")
    seen = [name.casefold() for name in names]
    twice = sorted({name for name, s in zip(names, seen, strict=True) if seen.count(s) > 1})
    if twice:
        raise ValueError(f"Each speaker needs a name of their own: {', '.join(twice)} was given twice.")


def with_speakers(transcript: Transcript, diarization: Diarization, count: int | None = None,
                  names: Sequence[str] = (), letters: bool = False) -> Transcript:
    """*transcript* with a speaker on every word and segment, segments split at speaker changes,
    speakers numbered in order of first word and named (*names* in that order; the rest
    :func:`default_name`). *count*: keep that many speakers (the most active), as a user who knows
    how many spoke asks; None keeps all the diarizer heard."""
    kept = _kept_speakers(diarization, count)
    raw = [_speaker_of(word, diarization, kept) for word in transcript.words]
    order: dict[int, int] = {}
    for speaker in raw:
        order.setdefault(speaker, len(order))
    labelled = iter(order[speaker] for speaker in raw)
    segments: list[Segment] = []
    for segment in transcript.segments:
        words = [replace(word, speaker=next(labelled)) for word in segment.words]
        segments += _split_at_changes(segment, words)
    found = len(order)
    warnings = list(transcript.warnings)
    if count is not None and 0 < found < count:
        warnings.append(f"{count} speakers were asked for, but only {found} could be told apart.")
    if count is None and diarization.at_capacity:
        warnings.append(f"{diarization.capacity} speakers were told apart, the most this diarization model can: "
                        "if more people speak, each of the others is given one of these names.")
    speakers = [names[i] if i < len(names) else default_name(i, letters) for i in range(found)]
    return replace(transcript, segments=segments, warnings=warnings, speakers=speakers)


def rename(transcript: Transcript, names: dict[int, str]) -> Transcript:
    """*transcript* with some speakers renamed (number → name); a blank name gives the default."""
    speakers = list(transcript.speakers)
    for speaker, name in names.items():
        if 0 <= speaker < len(speakers):
            speakers[speaker] = name.strip() or default_name(speaker)
    return replace(transcript, speakers=speakers)


def _kept_speakers(diarization: Diarization, count: int | None) -> list[int]:
    heard = sorted({turn.speaker for turn in diarization.turns})
    if count is None or len(heard) <= count:
        return heard or [0]
    spoken: dict[int, float] = {}
    for turn in diarization.turns:
        spoken[turn.speaker] = spoken.get(turn.speaker, 0.0) + turn.end - turn.start
    return sorted(sorted(spoken, key=lambda speaker: -spoken[speaker])[:count])


def _speaker_of(word: Word, diarization: Diarization, kept: list[int]) -> int:
    """The kept speaker most active over *word*; the speaker of the nearest turn when none is."""
    weights = diarization.weights(word.start, word.end)
    scores = np.array([weights[speaker] if speaker < len(weights) else 0.0 for speaker in kept])
    if len(scores) and scores.max() >= _HEARD:
        return kept[int(scores.argmax())]
    middle = (word.start + word.end) / 2
    near = [t for t in diarization.turns if t.speaker in kept]
    if not near:
        return kept[0]
    return min(near, key=lambda t: 0.0 if t.start <= middle <= t.end else min(abs(t.start - middle),
                                                                              abs(t.end - middle))).speaker


def _split_at_changes(segment: Segment, words: list[Word]) -> list[Segment]:
    if not words:
        return [segment]
    parts: list[list[Word]] = [[words[0]]]
    for word in words[1:]:
        if word.speaker != parts[-1][-1].speaker:
            parts.append([])
        parts[-1].append(word)
    if len(parts) == 1:
        return [replace(segment, words=tuple(words), speaker=words[0].speaker)]
    return [Segment(part[0].start, part[-1].end, " ".join(w.text for w in part), tuple(part), part[0].speaker)
            for part in parts]
