"""The committed cache-aware speech model streams held-out speech nearly as well as the offline
fixture recognises it whole, at every step it offers; its training (a fine-tune of the offline
fixture into a cache-aware one) still runs."""

from __future__ import annotations

import numpy as np
import pytest

from parakeet_desktop.engine.recognize.cache_aware import CacheAwareConfig, CacheAwareTranscriber, step_seconds
from support.models import SPEECH_MODEL, STREAMING_MODEL
from support.speech import held_out_utterances, word_error_rate


@pytest.fixture(scope="module")
def streaming_model():
    from parakeet_desktop.engine.model.loader import load_model

    return load_model(str(STREAMING_MODEL), "cpu")


@pytest.fixture(scope="module")
def long_utterances():
    """Sixty held-out sentences: about 2.6 minutes of speech, streamed at four steps."""
    return held_out_utterances(60)


def streamed(model, audio: np.ndarray, step: float) -> str:
    transcriber = CacheAwareTranscriber(model, CacheAwareConfig(step))
    for start in range(0, len(audio), 1600):  # 100 ms blocks, as a microphone gives them
        transcriber.accept(audio[start : start + 1600])
    return transcriber.finish().text


def test_the_fixture_is_small_and_cache_aware(streaming_model):
    assert STREAMING_MODEL.stat().st_size < 15 * 2**20
    assert step_seconds(streaming_model) == (0.08, 0.16, 0.56, 1.12)
    assert streaming_model.nemo.cfg.preprocessor.normalize == "NA"


def test_streamed_words_are_within_a_few_points_of_the_offline_fixture(streaming_model, speech_model, long_utterances):
    texts = [text for text, _ in long_utterances]
    offline = word_error_rate(texts, [speech_model.recognize([audio])[0].text for _, audio in long_utterances])
    for step in step_seconds(streaming_model):
        wer = word_error_rate(texts, [streamed(streaming_model, audio, step) for _, audio in long_utterances])
        assert wer <= offline + 0.05, f"{step * 1000:.0f} ms steps: WER {wer:.1%}, offline fixture {offline:.1%}"


def test_the_cache_aware_fine_tune_runs(tmp_path, train_fixture_model):
    out = tmp_path / "smoke.nemo"
    result = train_fixture_model("--out", str(out), "--init-from", str(SPEECH_MODEL), "--cache-aware",
                                 "--sentences", "24", "--held-out", "6", "--steps", "3", "--eval-every", "3",
                                 "--batch-seconds", "20")
    assert result.returncode == 0, result.stderr[-2000:]
    from parakeet_desktop.engine.model.loader import load_model

    model = load_model(str(out), "cpu")
    assert step_seconds(model) == (0.08, 0.16, 0.56, 1.12)
