"""Long speech loses no words. With the committed speech model, a ten-minute push-to-talk
utterance and a 25-minute file give their words within the model's word error rate on short
sentences plus 5 points, in bounded memory; words in any order are heard too, not only the
grammar's sentences."""

from __future__ import annotations

import numpy as np
import pytest

from parakeet_desktop.engine.audio.file_device import FileSoundDevice
from parakeet_desktop.engine.live.dictation import LiveSettings, Mode
from parakeet_desktop.engine.live.events import Final
from support.speech import held_out_utterances, word_error_rate
from tools.memory import rss_mb
from tools.speech import speak, with_pauses

SAMPLE_RATE = 16000


@pytest.fixture(scope="module")
def short_wer(speech_model) -> float:
    """The model's WER on short held-out sentences, each recognised alone."""
    pairs = held_out_utterances(60)[:40]
    found = speech_model.recognize([speech for _, speech in pairs])
    return word_error_rate([text for text, _ in pairs], [r.text for r in found])


def talk(minutes: float) -> tuple[list[str], list[int], np.ndarray]:
    """Held-out sentences in varied voices with pauses of 0.3-2 s, *minutes* long: the texts,
    where each sentence's pause ends (in samples) and the audio."""
    pairs = held_out_utterances(int(minutes * 60 / 3.5) + 20)
    return with_pauses(pairs, minutes * 60, np.random.default_rng(5))


@pytest.fixture(scope="module")
def long_talk():
    return talk(25)


_TRANSCRIBE_IN_A_FRESH_PROCESS = """
import ctypes, json, sys
import soundfile
from parakeet_desktop.engine.recognize.files import FileTranscriber
from parakeet_desktop.engine.model.loader import load_model

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

model = load_model(sys.argv[1], "cpu")
audio, _ = soundfile.read(sys.argv[2], dtype="float32")
before = rss_mb()
transcript = FileTranscriber(model).transcribe_array(audio, "long talk")
# What the transcription holds on to, once the allocator has handed back what was freed; and
# the most it took at once (the peak, over the memory before it started).
ctypes.CDLL("libc.so.6").malloc_trim(0)
# VmHWM starts afresh at exec; getrusage's ru_maxrss would carry the forking test process's peak.
peak = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]) / 1024 - before
print(json.dumps({"text": transcript.text, "grown": rss_mb() - before, "peak": peak,
                  "last_end": transcript.words[-1].end,
                  "duration": transcript.duration, "warnings": transcript.warnings}))
"""


def test_a_25_minute_file_gives_all_its_words_in_bounded_memory(speech_model, short_wer, long_talk, tmp_path):
    """Transcribed in a process of its own, so that its memory is measured alone (a long test
    session's allocator says little)."""
    import json
    import subprocess
    import sys

    import soundfile

    from support.models import SPEECH_MODEL

    texts, _, audio = long_talk
    assert len(audio) / SAMPLE_RATE > 24 * 60
    path = tmp_path / "long talk.wav"
    soundfile.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
    done = subprocess.run([sys.executable, "-c", _TRANSCRIBE_IN_A_FRESH_PROCESS, str(SPEECH_MODEL), str(path)],
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    wer = word_error_rate([" ".join(texts)], [result["text"]])
    assert wer <= short_wer + 0.05, (wer, short_wer)
    # It keeps little (the transcript: about 20 MB for 25 minutes) and never takes the whole file
    # through the encoder at once (its attention alone would need several GB).
    assert result["grown"] < 200, f"transcribing 25 minutes kept {result['grown']:.0f} MB"
    assert result["peak"] < 2048, f"transcribing 25 minutes took {result['peak']:.0f} MB at its peak"
    assert result["last_end"] > result["duration"] - 5  # the last words are there, in place
    assert not result["warnings"]


def test_a_ten_minute_push_to_talk_utterance_gives_all_its_words(speech_model, short_wer, long_talk):
    from parakeet_desktop.engine.live.loop import LiveEngine

    texts, ends, audio = long_talk
    count = sum(end <= 10 * 60 * SAMPLE_RATE for end in ends)
    recording = audio[: ends[count - 1]]  # ten minutes, cut in a pause
    finals = []
    before = rss_mb()
    engine = LiveEngine(speech_model, LiveSettings(), finals.append,
                        sd=FileSoundDevice(samples=recording, realtime=False),
                        until_input_ends=True)
    engine.start(Mode.PUSH_TO_TALK)
    engine.run()
    grown = rss_mb() - before
    finals = [event for event in finals if isinstance(event, Final)]
    assert len(finals) == 1
    wer = word_error_rate([" ".join(texts[:count])], [finals[0].text])
    assert wer <= short_wer + 0.05, (wer, short_wer)
    assert grown < 1024, f"a ten-minute utterance grew memory by {grown:.0f} MB"


def test_words_in_any_order_are_heard(speech_model, short_wer):
    """Random sequences of the model's vocabulary (no grammar to lean on), in voices of the
    held-out set, recognised each alone."""
    from tools.fixture_corpus import random_orders, voice_for

    texts = random_orders(60, seed=33)
    audio = [speak(text, *voice_for(i, seed=99)) for i, text in enumerate(texts)]
    found = speech_model.recognize(audio)
    assert word_error_rate(texts, [r.text for r in found]) <= 0.10
