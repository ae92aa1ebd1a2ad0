"""Real speech for tests and benchmarks, spoken by espeak-ng (a Debian package)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from parakeet_desktop.engine.audio.decode import SAMPLE_RATE, resample

PASSAGE = [
    "the quick brown fox jumps over the lazy dog",
    "please call me back when you get home tonight",
    "we will meet at the station at half past nine",
    "open the window and let the fresh air in",
    "the weather today is cold with a chance of rain in the afternoon",
    "she bought three apples, two oranges and a loaf of bread at the market",
    "remember to send the report to the whole team before friday",
    "the train to the city leaves from platform four every twenty minutes",
    "my brother plays the guitar in a small band on saturday nights",
    "could you turn the music down a little, the baby is sleeping",
    "the museum is closed on mondays but open late on thursdays",
    "we planted tomatoes, beans and sunflowers in the garden this spring",
]


# How the committed speech model was trained (tools/train_fixture_model.py writes it).
FIXTURE_TRAINING_REPORT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "speech-tdt.training.json"


class SpeechSynthesisError(RuntimeError):
    """espeak-ng is missing or failed."""


def speak(text: str, voice: str = "en-us", speed: int = 160, pitch: int = 50) -> np.ndarray:
    """*text* spoken by espeak-ng (*speed* in words a minute, *pitch* 0-99), as 16 kHz mono
    float32 samples."""
    if shutil.which("espeak-ng") is None:
        raise SpeechSynthesisError("espeak-ng is missing: install the Debian package espeak-ng")
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(raw), text],
                       check=True, capture_output=True)
        samples, rate = soundfile.read(raw, dtype="float32")
    return resample(samples, rate, SAMPLE_RATE)


def held_out_speech(count: int, seed: int = 99) -> list[tuple[str, np.ndarray]]:
    """*count* sentences the committed speech model never heard in training, spoken by espeak-ng
    with varied voices, as (text, 16 kHz samples)."""
    from tools.fixture_corpus import held_out_sentences, voice_for

    trained = json.loads(FIXTURE_TRAINING_REPORT.read_text())["training_utterances"]
    return [(text, speak(text, *voice_for(i, seed=seed))) for i, text in enumerate(held_out_sentences(count, trained))]


def passage(seconds: float, pause: float = 0.5) -> np.ndarray:
    """Sentences of ``PASSAGE`` with pauses between them, repeated to at least *seconds*."""
    parts, total, n = [], 0, 0
    gap = np.zeros(int(pause * SAMPLE_RATE), dtype=np.float32)
    while total < seconds * SAMPLE_RATE:
        spoken = speak(PASSAGE[n % len(PASSAGE)], speed=150 + 10 * (n % 3))
        parts += [spoken, gap]
        total += len(spoken) + len(gap)
        n += 1
    return np.concatenate(parts)[: int(seconds * SAMPLE_RATE)]


def with_pauses(spoken, seconds: float, rng, shortest: float = 0.3,
                longest: float = 2.0) -> tuple[list[str], list[int], np.ndarray]:
    """(text, samples) pairs, in order, each followed by a pause of *shortest*-*longest* seconds
    drawn from *rng* (a numpy Generator or a random.Random), until *seconds* would be passed:
    the texts kept, where each one's pause ends (in samples) and the audio. *spoken* may be a
    lazy iterable: it is read only as far as needed."""
    texts, ends, parts, total = [], [], [], 0
    for text, speech in spoken:
        pause = np.zeros(int(rng.uniform(shortest, longest) * SAMPLE_RATE), np.float32)
        if total + len(speech) + len(pause) > seconds * SAMPLE_RATE:
            break
        parts += [speech, pause]
        total += len(speech) + len(pause)
        texts.append(text)
        ends.append(total)
    return texts, ends, np.concatenate(parts)
