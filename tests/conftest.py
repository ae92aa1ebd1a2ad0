"""Shared fixtures: a tiny random-weight Parakeet-class model and real synthesized speech."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

# No test may reach a model hub: none is reachable on the build machines, and a test that
# downloads would pass or fail by the weather. Nothing listens on this port. Set before the
# hub client is imported, which reads it once.
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"
# Ray (the cluster's tests): no usage reports; a test that connects to the cluster a ``cluster``
# command started uses the token Ray made for it (~/.ray/auth_token). Read when Ray is imported.
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["RAY_AUTH_MODE"] = "token"
# Qt widgets in this process draw offscreen; the desktop tests start their own X server and
# give their child processes the xcb platform.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from tools.nemo_models import TINY, write_nemo  # noqa: E402
from tools.speech import PASSAGE, SpeechSynthesisError, speak  # noqa: E402

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


@pytest.fixture(scope="session")
def tiny_nemo(tmp_path_factory) -> Path:
    """A tiny random-weight EncDecRNNTBPEModel with TDT decoding, saved as a .nemo file."""
    return write_nemo(TINY, tmp_path_factory.mktemp("model") / "tiny-tdt.nemo")


@pytest.fixture(scope="session")
def model(tiny_nemo):
    """The tiny model loaded through the app's own loader, as a user's .nemo file is."""
    from parakeet_desktop.engine.loader import load_model

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


FIXTURES = Path(__file__).parent / "fixtures"
SPEECH_MODEL = FIXTURES / "speech-tdt.nemo"
STREAMING_MODEL = FIXTURES / "speech-streaming.nemo"  # cache-aware


def speech_model_report() -> dict:
    """How the committed speech model was trained (written by tools/train_fixture_model.py)."""
    import json

    return json.loads((FIXTURES / "speech-tdt.training.json").read_text())


def held_out_utterances(count: int) -> list[tuple[str, np.ndarray]]:
    """*count* sentences the speech model never heard in training, spoken by espeak-ng with
    varied voices, as (text, 16 kHz samples)."""
    from tools.fixture_corpus import held_out_sentences, voice_for

    texts = held_out_sentences(count, speech_model_report()["training_utterances"])
    return [(text, speak(text, *voice_for(i, seed=99))) for i, text in enumerate(texts)]


def heard_every_way(model, cache_aware_model, audio: np.ndarray) -> list[tuple[str, list]]:
    """Text and timed words of *audio* as a file (*model*), through the buffered streaming route
    (*model*, its first 12 s in 0.1 s blocks) and through the cache-aware one (*cache_aware_model*,
    the same blocks)."""
    from parakeet_desktop.engine.cache_aware import CacheAwareConfig, CacheAwareTranscriber
    from parakeet_desktop.engine.files import FileTranscriber
    from parakeet_desktop.engine.streaming import CPU_DEFAULT, StreamingTranscriber

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


@pytest.fixture(scope="session")
def speech_model():
    """The committed model that really recognises speech, loaded as a user's .nemo file is."""
    from parakeet_desktop.engine.loader import load_model

    return load_model(str(SPEECH_MODEL), "cpu")


@pytest.fixture
def app_dirs(tmp_path, monkeypatch):
    """The app's config and data folders, and its control socket, in a temporary folder."""
    monkeypatch.setenv("PARAKEET_DESKTOP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("PARAKEET_DESKTOP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    return tmp_path


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "parakeet_desktop", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd)


@pytest.fixture(scope="session")
def cluster_service(tmp_path_factory):
    """``parakeet-desktop cluster`` with two CPU replicas of the committed speech model behind Ray
    Serve's proxy, on a Ray head of two CPUs: started once per session of tests."""
    from service_support import serve

    with serve(SPEECH_MODEL, tmp_path_factory.mktemp("cluster-config"), "--replicas", "2", command="cluster",
               timeout=600) as running:
        yield running


def pytest_collection_modifyitems(session, config, items):
    """The tests on the cluster run last, together: its Ray head and replicas start once, and
    idle through no other test."""
    on_cluster = [item for item in items if "cluster_service" in getattr(item, "fixturenames", ())
                  or "[cluster]" in item.nodeid]
    if on_cluster:
        items[:] = [item for item in items if item not in on_cluster] + on_cluster
