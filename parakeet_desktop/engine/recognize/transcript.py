"""Plain results of recognition: words and segments with times in seconds, and whole transcripts."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

from .language import Language

_SENTENCE_END = (".", "?", "!", "…", "。", "？", "！")


@dataclass(frozen=True)
class Word:
    """One recognised word with its start and end in seconds from the start of the audio."""

    text: str
    start: float
    end: float
    # Who said it (a number into the transcript's speakers), when speakers were asked for.
    speaker: int | None = None


@dataclass(frozen=True)
class Segment:
    """A run of words: a sentence, or what lies between two pauses (or two speaker changes)."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    speaker: int | None = None


@dataclass
class Transcript:
    """The recognised text of one audio source, with its segments and anything worth telling."""

    source: str
    duration: float
    segments: list[Segment]
    model: str = ""
    warnings: list[str] = field(default_factory=list)
    # The language of its text among the model's (engine/recognize/language.py); None when not known.
    language: Language | None = None
    # The speakers' names, by number (empty: speakers were not asked for; engine/speakers/).
    speakers: list[str] = field(default_factory=list)
    # How reference clips named the speakers (engine/speakers/names.py: Match.as_dict), when given.
    speaker_matches: list[dict] = field(default_factory=list)

    def speaker_name(self, speaker: int | None) -> str | None:
        if speaker is None or not self.speakers:
            return None
        return self.speakers[speaker] if 0 <= speaker < len(self.speakers) else f"Speaker {speaker + 1}"

    @property
    def text(self) -> str:
        return join_texts(segment.text for segment in self.segments)

    @property
    def words(self) -> list[Word]:
        return [word for segment in self.segments for word in segment.words]


def floor_ms(seconds: float) -> float:
    """*seconds* rounded down to the millisecond: a time that rounding cannot push past the end."""
    return math.floor(seconds * 1000) / 1000


def join_texts(texts) -> str:
    """Join pieces of recognised text with single spaces, skipping empty ones."""
    return " ".join(text.strip() for text in texts if text and text.strip())


def segments_from_words(words: list[Word], max_pause: float = 1.5,
                        max_duration: float = 30.0) -> list[Segment]:
    """Group words into segments: a new one after a sentence end, a long pause or a long run."""
    segments: list[Segment] = []
    current: list[Word] = []

    def close() -> None:
        if current:
            segments.append(Segment(current[0].start, current[-1].end,
                                    join_texts(w.text for w in current), tuple(current)))
            current.clear()

    for word in words:
        if current and (word.start - current[-1].end > max_pause
                        or word.end - current[0].start > max_duration):
            close()
        current.append(word)
        if word.text.endswith(_SENTENCE_END):
            close()
    close()
    return segments


def replace_phrases(text: str, pairs: list[list[str]] | list[tuple[str, str]]) -> str:
    """Apply the user's "heard → write" pairs to *text*: whole words, any case, longest first.
    ``\\n`` in what to write stands for a line break."""
    import re

    for heard, write in sorted(pairs, key=lambda p: -len(p[0])):
        if not heard.strip():
            continue
        written = write.replace("\\n", "\n")
        pattern = r"(?<!\w)" + r"\s+".join(re.escape(w) for w in heard.split()) + r"(?!\w)"
        if written and not any(c.isalnum() for c in written):
            pattern = r"[ \t]*" + pattern  # punctuation and line breaks attach to what comes before
            if not written.strip():
                pattern += r"[ \t]*"  # and a line break to what follows
        text = re.sub(pattern, functools.partial(_as_written, written), text, flags=re.IGNORECASE)
    return text


def _as_written(written: str, _match: object) -> str:
    """A replacement's text as it is: no backslash escapes read in it, as ``re.sub`` would."""
    return written
