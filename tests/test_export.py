"""Exports: TXT, SRT, VTT and JSON that real parsers read back, to the millisecond."""

from __future__ import annotations

import html
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


def _conversation() -> Transcript:
    """Three turns of two speakers, the second named with markup characters a VTT file escapes."""
    from dataclasses import replace

    turns = [(0, "So where did you go yesterday?"), (1, "To the lake, with my sister."),
             (0, "That sounds lovely. Was the weather good?")]
    words, t = [], 0.0
    for speaker, text in turns:
        for word in text.split():
            words.append(Word(word, round(t, 3), round(t + 0.3, 3), speaker))
            t += 0.4
        t += 1.0
    segments = [replace(s, speaker=s.words[0].speaker) for s in segments_from_words(words)]
    return Transcript(source="talk.wav", duration=round(t, 3), segments=segments, model="tiny",
                      speakers=["Ana", "Ben <guest> & co"])


def test_srt_cues_open_with_the_speakers_name(tmp_path):
    transcript = _conversation()
    subtitles = list(srt.parse(export.write(transcript, "srt", tmp_path / "talk.srt").read_text(encoding="utf-8")))
    assert [s.content.split(":")[0] for s in subtitles] == ["Ana", "Ben <guest> & co", "Ana", "Ana"]
    assert subtitles[1].content == "Ben <guest> & co: To the lake, with my\nsister."
    assert all(len(s.content.split("\n")) <= export.MAX_CUE_LINES for s in subtitles)  # the name fits too


def test_vtt_cues_carry_voice_spans_a_parser_reads(tmp_path):
    transcript = _conversation()
    path = export.write(transcript, "vtt", tmp_path / "talk.vtt")
    captions = webvtt.read(str(path))
    # A browser's parser reads character references in the span's annotation; webvtt-py leaves them.
    assert [html.unescape(c.voice) for c in captions] == ["Ana", "Ben <guest> & co", "Ana", "Ana"]
    assert captions[1].text == "To the lake, with my sister."
    assert "<v Ben &lt;guest&gt; &amp; co>" in path.read_text(encoding="utf-8")


def test_txt_has_one_paragraph_a_turn(tmp_path):
    text = export.write(_conversation(), "txt", tmp_path / "talk.txt").read_text(encoding="utf-8")
    assert text == ("Ana: So where did you go yesterday?\n\nBen <guest> & co: To the lake, with my sister.\n\n"
                    "Ana: That sounds lovely. Was the weather good?\n")


def test_json_has_the_speaker_of_each_segment_and_word(tmp_path):
    document = json.loads(export.write(_conversation(), "json", tmp_path / "t.json").read_text(encoding="utf-8"))
    assert document["speakers"] == ["Ana", "Ben <guest> & co"]
    assert [s["speaker"] for s in document["segments"]] == ["Ana", "Ben <guest> & co", "Ana", "Ana"]
    assert {w["speaker"] for w in document["segments"][1]["words"]} == {"Ben <guest> & co"}


def test_without_speakers_nothing_names_one(tmp_path):
    transcript = _transcript()
    assert "speaker" not in export.to_json(transcript) and "<v " not in export.to_vtt(transcript)
