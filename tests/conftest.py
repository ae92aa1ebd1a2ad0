"""Shared fixtures: a tiny random-weight Parakeet-class model and real synthesized speech."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tools.nemo_models import TINY, write_nemo

# No test may reach a model hub: none is reachable on the build machines, and a test that
# downloads would pass or fail by the weather. Nothing listens on this port.
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"

SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "please call me back when you get home tonight",
    "we will meet at the station at half past nine",
    "open the window and let the fresh air in",
]


def synthesize(text: str, path: Path, rate: int = 16000, voice: str = "en-us", speed: int = 160) -> Path:
    """Speak *text* with espeak-ng into a WAV file at *rate* Hz."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: install the Debian package espeak-ng (see .ci/run)")
    raw = path.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text], check=True)
    samples, source_rate = soundfile.read(raw, dtype="float32")
    raw.unlink()
    from parakeet_desktop.engine.audio import resample

    soundfile.write(path, resample(samples, source_rate, rate), rate, subtype="PCM_16")
    return path


def silence(seconds: float, rate: int = 16000) -> np.ndarray:
    return np.zeros(int(seconds * rate), dtype=np.float32)


@pytest.fixture(scope="session")
def tiny_nemo(tmp_path_factory) -> Path:
    """A tiny random-weight EncDecRNNTBPEModel with TDT decoding, saved as a .nemo file."""
    return write_nemo(TINY, tmp_path_factory.mktemp("model") / "tiny-tdt.nemo")


@pytest.fixture(scope="session")
def model(tiny_nemo):
    """The tiny model loaded through the app's own loader, as a user's .nemo file is."""
    from parakeet_desktop.engine.model import load_model

    return load_model(str(tiny_nemo), "cpu")


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("speech")
    for n, text in enumerate(SENTENCES):
        synthesize(text, folder / f"sentence{n}.wav")
    return folder


@pytest.fixture(scope="session")
def speech_wavs(speech_dir) -> list[Path]:
    return sorted(speech_dir.glob("sentence*.wav"))
