"""Writers for transcripts: plain text, SRT and WebVTT subtitles, and JSON with word times.

Subtitle cues are kept readable: at most two lines of ``MAX_LINE_CHARS`` and ``MAX_CUE_SECONDS``
each; longer segments are split between words. Times are written to the millisecond.
"""

from __future__ import annotations

import json
from pathlib import Path

from .engine.recognize import Segment, Transcript, Word, join_texts
from .storage import write_atomic

FORMATS = ("txt", "srt", "vtt", "json")
MAX_LINE_CHARS = 42
MAX_CUE_LINES = 2
MAX_CUE_SECONDS = 7.0


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _clock(seconds: float, separator: str) -> str:
    ms = _ms(seconds)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def _wrap(words: list[str], width: int = MAX_LINE_CHARS) -> list[str]:
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _fits(words: list[Word], prefix: str = "") -> bool:
    text_lines = _wrap([prefix, *(w.text for w in words)] if prefix else [w.text for w in words])
    return len(text_lines) <= MAX_CUE_LINES and words[-1].end - words[0].start <= MAX_CUE_SECONDS


def cues(transcript: Transcript) -> list[tuple[float, float, list[str]]]:
    """Subtitle cues (start, end, lines) of readable size, in time order and never overlapping."""
    return [(start, end, lines) for start, end, lines, _ in speaker_cues(transcript)]


def speaker_cues(transcript: Transcript) -> list[tuple[float, float, list[str], str | None]]:
    """:func:`cues` with each cue's speaker's name (None when speakers were not asked for): a
    cue never spans two speakers, as segments split where the speaker changes."""
    result: list[tuple[float, float, list[str], str | None]] = []
    for segment in transcript.segments:
        speaker = transcript.speaker_name(segment.speaker)
        # A cue that SRT opens with "Name:" is cut so that it still fits two lines with the name.
        for start, end, words in _split_segment(segment, f"{speaker}:" if speaker else ""):
            if result and start < result[-1][1]:
                start = result[-1][1]
            result.append((start, max(end, start), _wrap(words), speaker))
    return result


def _split_segment(segment: Segment, prefix: str = ""):
    if not segment.words:
        if segment.text:
            yield segment.start, segment.end, segment.text.split()
        return
    current: list[Word] = []
    for word in segment.words:
        if current and not _fits(current + [word], prefix):
            yield current[0].start, current[-1].end, [w.text for w in current]
            current = []
        current.append(word)
    if current:
        yield current[0].start, current[-1].end, [w.text for w in current]


def to_txt(transcript: Transcript) -> str:
    """One line a segment; with speakers, one paragraph a turn, opened by the speaker's name."""
    if not transcript.speakers:
        return "\n".join(s.text for s in transcript.segments if s.text) + "\n"
    turns: list[tuple[int | None, list[str]]] = []
    for segment in transcript.segments:
        if not segment.text:
            continue
        if turns and turns[-1][0] == segment.speaker:
            turns[-1][1].append(segment.text)
        else:
            turns.append((segment.speaker, [segment.text]))
    return "\n\n".join(f"{transcript.speaker_name(speaker)}: {join_texts(texts)}" for speaker, texts in turns) + "\n"


def to_srt(transcript: Transcript) -> str:
    blocks = [
        f"{n}\n{_clock(start, ',')} --> {_clock(end, ',')}\n"
        + "\n".join(_wrap([f"{speaker}:", *" ".join(lines).split()]) if speaker else lines) + "\n"
        for n, (start, end, lines, speaker) in enumerate(speaker_cues(transcript), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(transcript: Transcript) -> str:
    """WebVTT; a cue of a known speaker opens with a voice span (``<v Name>``)."""
    blocks = ["WEBVTT\n"] + [
        f"{_clock(start, '.')} --> {_clock(end, '.')}\n"
        + (f"<v {_vtt_escape(speaker)}>" if speaker else "") + "\n".join(_vtt_escape(line) for line in lines) + "\n"
        for start, end, lines, speaker in speaker_cues(transcript)
    ]
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    """A cue's text with WebVTT's markup characters escaped (a name or word with ``<`` or ``&``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_json(transcript: Transcript) -> str:
    def times(item) -> dict:
        return {"start": _ms(item.start) / 1000, "end": _ms(item.end) / 1000}

    def speaker(item) -> dict:
        return {"speaker": transcript.speaker_name(item.speaker)} if transcript.speakers else {}

    document = {
        "source": transcript.source,
        "model": transcript.model,
        "duration": _ms(transcript.duration) / 1000,
        "text": join_texts(s.text for s in transcript.segments),
        **(transcript.language.as_dict() if transcript.language else {"language": None}),
        "warnings": transcript.warnings,
        **({"speakers": list(transcript.speakers)} if transcript.speakers else {}),
        **({"speaker_matches": transcript.speaker_matches} if transcript.speaker_matches else {}),
        "segments": [
            {**times(s), **speaker(s), "text": s.text,
             "words": [{"word": w.text, **times(w), **speaker(w)} for w in s.words]}
            for s in transcript.segments
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


WRITERS = {"txt": to_txt, "srt": to_srt, "vtt": to_vtt, "json": to_json}


def render(transcript: Transcript, fmt: str) -> str:
    if fmt not in WRITERS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    return WRITERS[fmt](transcript)


def write(transcript: Transcript, fmt: str, path: str | Path) -> Path:
    """Write *transcript* as *fmt* to *path* atomically (a partial file is never left behind),
    replacing what is there."""
    return write_atomic(Path(path), render(transcript, fmt))


class Outputs:
    """Where the exports of one run go: never two of them to one name (``talk.wav`` and
    ``talk.flac`` into one folder), and never over a file that is already there (perhaps
    corrected by hand) unless *overwrite*; such an output gets the first free name
    ``talk (2).txt``, ``talk (3).txt``, … ."""

    def __init__(self, overwrite: bool = False) -> None:
        self.overwrite = overwrite
        self._written: set[Path] = set()

    def write(self, transcript: Transcript, fmt: str, source: Path, folder: Path | None = None) -> Path:
        """Export *transcript* of *source* as *fmt* into *folder* (beside the source when None);
        the path it went to."""
        folder = Path(folder) if folder is not None else Path(source).parent
        text = render(transcript, fmt)
        stem = Path(source).stem
        for number in range(1, 10_000):
            path = folder / (f"{stem}.{fmt}" if number == 1 else f"{stem} ({number}).{fmt}")
            key = path.resolve()
            if key in self._written:
                continue
            try:
                write_atomic(path, text, replace=self.overwrite)
            except FileExistsError:
                continue
            self._written.add(key)
            return path
        raise FileExistsError(folder / f"{stem}.{fmt}")
