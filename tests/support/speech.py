"""Real synthesized speech for the tests (espeak-ng, through tools/speech.py), and what they
measure of a transcript: its timed words and the word error rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from tools.speech import PASSAGE, SpeechSynthesisError, speak

# *count* sentences the speech model never heard in training, in varied voices: (text, samples).
from tools.speech import held_out_speech as held_out_utterances  # noqa: F401  (the tests' name for it)

SENTENCES = PASSAGE[:4]


def synthesize(text: str, path: Path) -> Path:
    """Speak *text* with espeak-ng into a 16 kHz WAV file."""
    try:
        samples = speak(text)
    except SpeechSynthesisError as exc:
        pytest.fail(f"{exc} (see .ci/run)")
    soundfile.write(path, samples, 16000, subtype="PCM_16")
    return path


def silence(seconds: float, rate: int = 16000) -> np.ndarray:
    return np.zeros(int(seconds * rate), dtype=np.float32)


def heard_every_way(model, cache_aware_model, audio: np.ndarray) -> list[tuple[str, list]]:
    """Text and timed words of *audio* as a file (*model*), through the buffered streaming route
    (*model*, its first 12 s in 0.1 s blocks) and through the cache-aware one (*cache_aware_model*,
    the same blocks)."""
    from parakeet_desktop.engine.recognize.cache_aware import CacheAwareConfig, CacheAwareTranscriber
    from parakeet_desktop.engine.recognize.files import FileTranscriber
    from parakeet_desktop.engine.recognize.streaming import CPU_DEFAULT, StreamingTranscriber

    results = [FileTranscriber(model).transcribe_array(audio)]
    for streamer in (StreamingTranscriber(model, CPU_DEFAULT), CacheAwareTranscriber(cache_aware_model,
                                                                                     CacheAwareConfig(0.56))):
        for start in range(0, 16000 * 12, 1600):
            streamer.accept(audio[start : start + 1600])
        results.append(streamer.finish())
    return [(r.text, timed_words(r.words)) for r in results]


def timed_words(words) -> list[tuple[str, float, float]]:
    """Each word of a transcript with its start and end."""
    return [(w.text, w.start, w.end) for w in words]


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    import jiwer

    return float(jiwer.wer(references, hypotheses))
