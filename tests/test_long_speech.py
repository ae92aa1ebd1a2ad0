"""Long speech loses no words. With the committed speech model, a ten-minute push-to-talk
utterance and a 25-minute file give their words within the model's word error rate on short
sentences plus 5 points, in bounded memory; words in any order are heard too, not only the
grammar's sentences."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import held_out_utterances, speak, word_error_rate
from parakeet_desktop.engine.capture import FileSoundDevice
from parakeet_desktop.engine.dictation import Final, LiveSettings, Mode
from parakeet_desktop.engine.files import FileTranscriber

SAMPLE_RATE = 16000


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


@pytest.fixture(scope="module")
def short_wer(speech_model) -> float:
    """The model's WER on short held-out sentences, each recognised alone."""
    pairs = held_out_utterances(60)[:40]
    found = speech_model.recognize([speech for _, speech in pairs])
    return word_error_rate([text for text, _ in pairs], [r.text for r in found])


def talk(minutes: float) -> tuple[list[str], list[int], np.ndarray]:
    """Held-out sentences in varied voices with pauses of 0.3-2 s, *minutes* long: the texts,
    where each sentence's pause ends (in samples) and the audio."""
    rng = np.random.default_rng(5)
    pairs = held_out_utterances(int(minutes * 60 / 3.5) + 20)
    texts, ends, parts, total = [], [], [], 0
    for text, speech in pairs:
        pause = np.zeros(int(rng.uniform(0.3, 2.0) * SAMPLE_RATE), np.float32)
        if total + len(speech) + len(pause) > minutes * 60 * SAMPLE_RATE:
            break
        parts += [speech, pause]
        total += len(speech) + len(pause)
        texts.append(text)
        ends.append(total)
    return texts, ends, np.concatenate(parts)


@pytest.fixture(scope="module")
def long_talk():
    return talk(25)


def test_a_25_minute_file_gives_all_its_words_in_bounded_memory(speech_model, short_wer, long_talk):
    texts, _, audio = long_talk
    text = " ".join(texts)
    assert len(audio) / SAMPLE_RATE > 24 * 60
    before = rss_mb()
    transcript = FileTranscriber(speech_model).transcribe_array(audio, "long talk")
    grown = rss_mb() - before
    wer = word_error_rate([text], [transcript.text])
    assert wer <= short_wer + 0.05, (wer, short_wer)
    assert grown < 1024, f"transcribing 25 minutes grew memory by {grown:.0f} MB"
    assert transcript.words[-1].end > transcript.duration - 5  # the last words are there, in place
    assert not transcript.warnings


def test_a_ten_minute_push_to_talk_utterance_gives_all_its_words(speech_model, short_wer, long_talk):
    from parakeet_desktop.engine.live import LiveEngine

    texts, ends, audio = long_talk
    count = sum(end <= 10 * 60 * SAMPLE_RATE for end in ends)
    recording = audio[: ends[count - 1]]  # ten minutes, cut in a pause
    finals = []
    before = rss_mb()
    engine = LiveEngine(speech_model, LiveSettings(), finals.append, sd=FileSoundDevice(samples=recording, realtime=False),
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
