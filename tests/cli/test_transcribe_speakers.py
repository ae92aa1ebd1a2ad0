"""``transcribe --speakers``: who said what, with the trained diarization fixture and the speech
fixture, on conversations made here; names given, names from reference clips, and bad requests
refused before any model loads."""

from __future__ import annotations

import json

import pytest
import soundfile

from support.cli import run_cli
from support.conversations import (
    DIARIZATION_MODEL,
    SPEAKER_MODEL,
    attributed,
    make_conversation,
    reference_clip,
    voice_pool,
)
from support.models import SPEECH_MODEL

MODELS = ("--model", str(SPEECH_MODEL), "--diarization-model", str(DIARIZATION_MODEL))


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    conversation = make_conversation(30, 2, seed=21)
    path = tmp_path_factory.mktemp("talk") / "talk.wav"
    soundfile.write(path, conversation.audio, 16000)
    return path, conversation


def test_each_word_and_segment_of_the_json_names_its_speaker(talk):
    path, conversation = talk
    result = run_cli("transcribe", str(path), "--speakers", "auto", "--format", "json", *MODELS, "--output-dir", "-")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    words = [w for s in document["segments"] for w in s["words"]]
    # Two voices; the fixture may hear a third for a word or two (tests/fixtures/README.md).
    assert document["speakers"][:2] == ["Speaker 1", "Speaker 2"] and len(document["speakers"]) <= 3
    assert attributed(words, document["speakers"], conversation) >= 0.9
    assert all(s["speaker"] in document["speakers"] for s in document["segments"])


def test_names_go_into_every_export(talk, tmp_path):
    path, _ = talk
    result = run_cli("transcribe", str(path), "--speaker-names", "Ana, Ben", "--format", "srt,vtt,txt", *MODELS,
                     "--output-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    srt_text = (tmp_path / "talk.srt").read_text()
    assert "Ana: " in srt_text and "Ben: " in srt_text
    assert "<v Ana>" in (tmp_path / "talk.vtt").read_text()
    paragraphs = (tmp_path / "talk.txt").read_text().strip().split("\n\n")
    assert paragraphs[0].startswith("Ana: ") and any(p.startswith("Ben: ") for p in paragraphs)


def test_reference_clips_name_the_speakers_who_sound_like_them(talk, tmp_path):
    """Clips of other sentences by the conversation's voices (one of the voice pool's other
    utterances), and a clip of a voice that is not in it: the report gives each decision."""
    path, conversation = talk
    report = json.loads(SPEAKER_MODEL.with_suffix(".training.json").read_text())
    voices = conversation.voices
    stranger = next(v for v in range(len(voice_pool())) if v not in voices)
    clips = {}
    for name, voice in (("Cy", stranger), ("Ben", voices[1]), ("Ana", voices[0])):
        clips[name] = tmp_path / f"{name}.wav"
        soundfile.write(clips[name], reference_clip(voice), 16000)
    result = run_cli("transcribe", str(path), *MODELS, "--speaker-model", str(SPEAKER_MODEL),
                     "--speaker-threshold", str(report["threshold"]), "--format", "json", "--output-dir", "-",
                     *[f"--speaker-reference={name}={clip}" for name, clip in clips.items()])
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["speakers"][:2] == ["Ana", "Ben"], result.stderr
    assert [m["name"] for m in document["speaker_matches"]][:2] == ["Ana", "Ben"]
    assert "Cy" not in document["speakers"]
    assert all(m["threshold"] == report["threshold"] for m in document["speaker_matches"])
    assert "Speaker 1 is Ana (similarity" in result.stderr


@pytest.mark.parametrize(("arguments", "message"), [
    (("--speakers", "5"), "at most 4"),
    (("--speakers", "many"), "not a number of speakers"),
    (("--speaker-names", "a,b,c,d,e"), "at most 4 speakers"),
    (("--speaker-reference", "Ana"), "NAME=FILE"),
    (("--speaker-reference", "Ana=/nonexistent/ana.wav"), "Ana=/nonexistent/ana.wav"),
    (("--speaker-threshold", "2"), "between 0 and 1"),
])
def test_bad_speaker_options_are_refused_before_any_model_loads(talk, arguments, message):
    path, _ = talk
    result = run_cli("transcribe", str(path), *arguments, *MODELS, "--output-dir", "-")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "Loading" not in result.stderr


def test_a_recognizer_given_as_the_diarizer_fails_with_a_clear_message(talk):
    path, _ = talk
    result = run_cli("transcribe", str(path), "--speakers", "2", "--model", str(SPEECH_MODEL),
                     "--diarization-model", str(SPEECH_MODEL), "--output-dir", "-")
    assert result.returncode == 3 and "not a speaker diarization model" in result.stderr
    assert "Traceback" not in result.stderr
