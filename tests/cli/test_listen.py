"""``parakeet-desktop listen`` as a user or a script runs it: a recording played as if live,
events as JSON lines on stdout."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

from support.cli import run_cli
from support.models import SPEECH_MODEL
from support.speech import held_out_utterances, silence, word_error_rate


@pytest.fixture(scope="module")
def three_sentences(tmp_path_factory):
    sentences = held_out_utterances(3)
    parts = [silence(0.5)]
    for _, speech in sentences:
        parts += [speech, silence(1.5)]
    path = tmp_path_factory.mktemp("listen") / "three sentences.wav"
    soundfile.write(path, np.concatenate(parts), 16000, subtype="PCM_16")
    return [text for text, _ in sentences], path


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_hands_free_file_gives_one_final_per_sentence(three_sentences):
    texts, path = three_sentences
    result = run_cli("listen", "--input", str(path), "--fast", "--mode", "handsfree",
                     "--model", str(SPEECH_MODEL), "--no-final-pass")
    assert result.returncode == 0, result.stderr
    lines = events(result.stdout)  # every stdout line is JSON
    finals = [e for e in lines if e["type"] == "final"]
    assert [f["utterance"] for f in finals] == [1, 2, 3]
    assert not any(f["full_context"] for f in finals)
    assert word_error_rate(texts, [f["text"] for f in finals]) <= 0.25
    for final in finals:
        starts = [w["start"] for w in final["words"]]
        assert starts == sorted(starts) and len(starts) == len(final["text"].split())
    assert any(e["type"] == "partial" for e in lines)
    assert "Traceback" not in result.stderr


def test_push_to_talk_in_real_time_with_the_final_pass(three_sentences, tmp_path):
    texts, path = three_sentences
    first = held_out_utterances(1)[0][1]
    audio, _ = soundfile.read(path, dtype="float32")
    one = tmp_path / "one.wav"  # the first sentence and the pause after it: the key goes up there
    soundfile.write(one, audio[: int(16000 * 0.5) + len(first) + int(16000 * 1.2)], 16000)
    result = run_cli("listen", "--input", str(one), "--model", str(SPEECH_MODEL))
    assert result.returncode == 0, result.stderr
    lines = events(result.stdout)
    finals = [e for e in lines if e["type"] == "final"]
    assert len(finals) == 1 and finals[0]["reason"] == "stop" and finals[0]["full_context"]
    assert word_error_rate([texts[0]], [finals[0]["text"]]) <= 0.2
    partials = [e for e in lines if e["type"] == "partial"]
    # Real time: captions came while the sentence was being played, before its final text.
    assert partials and partials[0]["t"] < finals[0]["t"] - 0.5


def test_no_microphone_and_bad_input_are_clear_errors(tmp_path):
    broken = tmp_path / "notes.wav"
    broken.write_text("not audio")
    result = run_cli("listen", "--input", str(broken), "--model", str(SPEECH_MODEL))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "error: notes.wav: not an audio or video file that can be decoded"

    missing = run_cli("listen", "--input", str(tmp_path / "gone.wav"), "--list-microphones")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr


def test_listening_without_any_microphone_says_so():
    from parakeet_desktop.engine.audio.capture import list_input_devices

    if list_input_devices():
        pytest.skip("this machine has a microphone")
    result = run_cli("listen", "--model", str(SPEECH_MODEL))
    assert result.returncode == 1
    assert "error: No microphone found" in result.stderr and "Traceback" not in result.stderr
    assert not [e for e in events(result.stdout) if e["type"] in ("final", "partial")]
