"""Who said what, with the trained diarization fixture (a real Sortformer) and the speech fixture,
on conversations made here of voices and sentences neither fixture trained on."""

from __future__ import annotations

import json

import numpy as np
import pytest

from parakeet_desktop.engine.model import ModelError
from parakeet_desktop.engine.recognize import FileTranscriber
from parakeet_desktop.engine.speakers import (
    Diarizer,
    SpeakerLabeller,
    SpeakerRequest,
    load_diarizer,
    rename,
    speaker_count,
    turns_of,
)
from support.conversations import DIARIZATION_MODEL, attributed, error_rate, make_conversation
from support.models import SPEECH_MODEL


@pytest.fixture(scope="module")
def diarizer() -> Diarizer:
    return load_diarizer(str(DIARIZATION_MODEL), "cpu")


def test_the_fixtures_report_holds_its_figures():
    """The fixture's own held-out DER, as its training measured it (the 10 % target is not met
    yet: tests/fixtures/README.md says where it stands)."""
    report = json.loads(DIARIZATION_MODEL.with_suffix(".training.json").read_text())
    assert report["class"] == "SortformerEncLabelModel" and report["held_out_der"] <= 0.20
    assert report["collar_seconds"] == 0.25 and report["overlap_scored"]
    assert DIARIZATION_MODEL.stat().st_size < 15 * 2**20


def test_conversations_it_never_heard_are_diarized(diarizer):
    conversations = [make_conversation(28, speakers, seed) for seed, speakers in enumerate((2, 3, 2, 3, 2, 3))]
    found = [diarizer.diarize(c.audio).turns for c in conversations]
    assert error_rate(conversations, found) <= 0.2
    assert [len({t.speaker for t in turns}) for turns in found] == [c.speakers for c in conversations]


def test_a_recording_longer_than_one_pass_streams_through_the_speaker_cache(diarizer):
    """Past OFFLINE_SECONDS the model's streaming mode runs chunk by chunk with its speaker
    cache, to the end of the recording. (The fixture was trained on whole conversations only:
    streamed over minutes it errs on a fifth to a half of the time, tests/fixtures/README.md.)"""
    conversation = make_conversation(200, 2, seed=42)
    result = diarizer.diarize(conversation.audio)
    assert len(result.activity) == pytest.approx(len(conversation.audio) / 16000 / 0.08, abs=1)
    assert result.turns[-1].end >= conversation.segments[-1][1] - 1.0
    assert error_rate([conversation], [result.turns]) <= 0.3
    assert result.speakers == 2
    short = make_conversation(50, 2, seed=41)  # seen whole, and streamed as a long one would be
    whole = diarizer.diarize(short.audio).turns
    streamed = Diarizer(diarizer.nemo_model, offline_seconds=0.0).diarize(short.audio).turns
    assert error_rate([short], [streamed]) <= error_rate([short], [whole]) + 0.1


def test_each_word_gets_the_speaker_who_said_it(speech_model, diarizer):
    from parakeet_desktop import export

    conversation = make_conversation(30, 2, seed=7)
    labeller = SpeakerLabeller(diarizer, SpeakerRequest())
    transcript = FileTranscriber(speech_model, finish=labeller).transcribe_array(conversation.audio)
    document = json.loads(export.to_json(transcript))
    words = [w for s in document["segments"] for w in s["words"]]
    assert document["speakers"][:2] == ["Speaker 1", "Speaker 2"] and len(words) >= 20
    assert attributed(words, document["speakers"], conversation) >= 0.9
    for segment in document["segments"]:  # segments split where the speaker changes
        assert {w["speaker"] for w in segment["words"]} == {segment["speaker"]}
    assert transcript.segments[0].speaker == 0


def test_asking_for_fewer_speakers_keeps_the_most_talkative(speech_model, diarizer):
    conversation = make_conversation(30, 3, seed=3)
    labeller = SpeakerLabeller(diarizer, SpeakerRequest(count=2, names=("Ana", "Ben")))
    transcript = FileTranscriber(speech_model, finish=labeller).transcribe_array(conversation.audio)
    assert transcript.speakers == ["Ana", "Ben"]
    assert {w.speaker for w in transcript.words} == {0, 1}


def test_when_all_four_outputs_speak_the_limit_is_said():
    """The model's four outputs all in use: more people may have spoken than it tells apart, and
    the transcript says so (a Diarization as the diarizer makes one, of four speakers in turn)."""
    from parakeet_desktop.engine.recognize import Segment, Transcript, Word
    from parakeet_desktop.engine.speakers import Diarization, with_speakers

    activity = np.zeros((100, 4), np.float32)
    for speaker in range(4):
        activity[speaker * 25 : speaker * 25 + 20, speaker] = 0.9
    turns, outputs = turns_of(activity, 0.08)
    words = [Word(f"w{n}", n * 0.4, n * 0.4 + 0.3) for n in range(20)]
    transcript = Transcript("talk.wav", 8.0, [Segment(0.0, 8.0, " ".join(w.text for w in words), tuple(words))])
    labelled = with_speakers(transcript, Diarization(activity, 0.08, turns, 4, outputs))
    assert labelled.speakers == ["Speaker 1", "Speaker 2", "Speaker 3", "Speaker 4"]
    assert [s.speaker for s in labelled.segments] == [0, 1, 2, 3]
    assert any("the most this diarization model can" in w for w in labelled.warnings)
    two = with_speakers(transcript, Diarization(activity, 0.08, turns, 4, outputs), count=2)
    assert len(two.speakers) == 2 and not two.warnings
    renamed = rename(labelled, {0: "Ana", 2: "  "})
    assert renamed.speakers == ["Ana", "Speaker 2", "Speaker 3", "Speaker 4"]


def test_silence_and_a_moment_of_audio_have_no_speakers(diarizer):
    assert diarizer.diarize(np.zeros(5 * 16000, np.float32)).turns == []
    assert diarizer.diarize(np.zeros(100, np.float32)).speakers == 0


def test_turns_bridge_short_gaps_and_drop_blips():
    activity = np.zeros((100, 4), np.float32)
    activity[10:30, 1] = 0.9
    activity[32:50, 1] = 0.8  # a 2-frame gap: one turn
    activity[60:61, 0] = 0.9  # one 80 ms frame: a blip
    activity[70:90, 3] = 0.7
    turns, outputs = turns_of(activity, 0.08)
    assert [(t.start, t.end, t.speaker) for t in turns] == [(0.8, 4.0, 0), (5.6, 7.2, 1)]
    assert outputs == [1, 3]


def test_a_speech_model_or_a_missing_file_is_no_diarizer(tmp_path):
    with pytest.raises(ModelError, match="not a speaker diarization model"):
        load_diarizer(str(SPEECH_MODEL), "cpu")
    with pytest.raises(ModelError, match="does not exist"):
        load_diarizer(str(tmp_path / "none.nemo"), "cpu")


@pytest.mark.parametrize(("text", "message"), [("5", "at most 4"), ("one", "not a number"), ("1", "not a number")])
def test_a_count_of_speakers_is_auto_or_two_to_four(text, message):
    assert speaker_count("auto") is None and speaker_count(" 3 ") == 3
    with pytest.raises(ValueError, match=message):
        speaker_count(text)


def test_requests_that_cannot_be_met_are_refused_before_any_work():
    with pytest.raises(ValueError, match="at most 4"):
        SpeakerRequest(names=("a", "b", "c", "d", "e"))
    with pytest.raises(ValueError, match="given twice"):
        SpeakerRequest(names=("Ana", "ana"))
    with pytest.raises(ValueError, match="at least 1 s"):
        SpeakerRequest(references=(("Ana", np.ones(8000, np.float32) * 0.1),))
    with pytest.raises(ValueError, match="silent"):
        SpeakerRequest(references=(("Ana", np.zeros(32000, np.float32)),))
