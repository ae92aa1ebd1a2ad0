"""Exports: TXT, SRT, VTT and JSON that real parsers read back, to the millisecond."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import srt
import webvtt

from parakeet_desktop import export
from parakeet_desktop.engine.recognize.transcript import Transcript, Word, segments_from_words


def _transcript() -> Transcript:
    words = []
    t = 0.0
    text = ("Hello there. This is a rather long sentence that goes on and on well past what a "
            "subtitle line can hold, so it has to be split into several readable cues, doesn't it? "
            "Zoë says привет. Short.")
    for n, word in enumerate(text.split()):
        words.append(Word(word, round(t, 3), round(t + 0.317, 3)))
        t += 0.4213 + (1.9 if n == 1 else 0.0)
    return Transcript(source="talk.wav", duration=round(t + 1.0, 3), segments=segments_from_words(words),
                      model="tiny")


def test_srt_parses_and_round_trips_times_to_the_millisecond(tmp_path):
    transcript = _transcript()
    path = export.write(transcript, "srt", tmp_path / "talk.srt")
    subtitles = list(srt.parse(path.read_text(encoding="utf-8")))
    cues = export.cues(transcript)
    assert len(subtitles) == len(cues) > len(transcript.segments)
    for subtitle, (start, end, lines) in zip(subtitles, cues):
        assert subtitle.start == timedelta(milliseconds=round(start * 1000))
        assert subtitle.end == timedelta(milliseconds=round(end * 1000))
        assert subtitle.content.split("\n") == lines
    spoken = " ".join(s.content.replace("\n", " ") for s in subtitles)
    assert spoken == transcript.text


def _vtt_ms(clock: str) -> int:
    hours, minutes, seconds = clock.split(":")
    return round((int(hours) * 3600 + int(minutes) * 60 + float(seconds)) * 1000)


def test_vtt_parses_and_round_trips_times_to_the_millisecond(tmp_path):
    transcript = _transcript()
    path = export.write(transcript, "vtt", tmp_path / "talk.vtt")
    captions = webvtt.read(str(path))
    cues = export.cues(transcript)
    assert len(captions) == len(cues)
    for caption, (start, end, lines) in zip(captions, cues):
        assert _vtt_ms(caption.start) == round(start * 1000)
        assert _vtt_ms(caption.end) == round(end * 1000)
        assert caption.text.split("\n") == lines
    assert "привет." in " ".join(c.text for c in captions)


def test_cues_are_readable(tmp_path):
    for start, end, lines in export.cues(_transcript()):
        assert 1 <= len(lines) <= export.MAX_CUE_LINES
        assert all(len(line) <= export.MAX_LINE_CHARS for line in lines)
        assert end - start <= export.MAX_CUE_SECONDS
        assert end >= start


def test_cues_never_overlap():
    cues = export.cues(_transcript())
    assert all(a[1] <= b[0] for a, b in zip(cues, cues[1:]))


def test_json_carries_segments_and_words_with_times(tmp_path):
    transcript = _transcript()
    document = json.loads(export.write(transcript, "json", tmp_path / "t.json").read_text("utf-8"))
    assert document["text"] == transcript.text
    assert document["model"] == "tiny" and document["source"] == "talk.wav"
    words = [w for s in document["segments"] for w in s["words"]]
    assert [w["word"] for w in words] == [w.text for w in transcript.words]
    for mine, theirs in zip(transcript.words, words):
        assert theirs["start"] == pytest.approx(mine.start, abs=5e-4)
        assert theirs["end"] == pytest.approx(mine.end, abs=5e-4)


def test_txt_has_one_segment_a_line(tmp_path):
    transcript = _transcript()
    lines = export.write(transcript, "txt", tmp_path / "t.txt").read_text("utf-8").splitlines()
    assert lines == [s.text for s in transcript.segments]
    assert lines[0] == "Hello there."


def test_long_times_are_written_as_hours(tmp_path):
    words = [Word("late", 3723.456, 3724.001)]
    transcript = Transcript("x", 3725.0, segments_from_words(words))
    assert "01:02:03,456 --> 01:02:04,001" in export.render(transcript, "srt")
    assert "01:02:03.456 --> 01:02:04.001" in export.render(transcript, "vtt")


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown format"):
        export.render(_transcript(), "docx")
