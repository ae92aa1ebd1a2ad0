"""Both decoder classes of the Parakeet family, plain RNN-T (parakeet-rnnt-0.6b/1.1b) and TDT
(the others), as tiny random-weight models of that class: through ``transcribe``, ``listen``
and the service (a file and a real-time stream). Random weights say nothing of accuracy; what
is checked is that each class runs every path and gives well-formed, well-timed words."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import httpx
import numpy as np
import pytest
import soundfile

from support.cli import run_cli
from support.service import stream_samples
from support.speech import held_out_utterances, silence
from tools.nemo_models import TINY, write_nemo


@pytest.fixture(scope="module", params=["tdt", "rnnt"])
def tiny_model(request, tmp_path_factory):
    shape = TINY if request.param == "tdt" else replace(TINY, tdt=False)
    return request.param, write_nemo(shape, tmp_path_factory.mktemp(request.param) / f"tiny-{request.param}.nemo")


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    (_, a), (_, b) = held_out_utterances(2)
    audio = np.concatenate([silence(0.4), a, silence(1.5), b, silence(0.6)])
    path = tmp_path_factory.mktemp("audio") / "two sentences.wav"
    soundfile.write(path, audio, 16000, subtype="PCM_16")
    return path, len(audio) / 16000


def _well_timed(words: list[dict], duration: float, start: str = "start", end: str = "end") -> None:
    starts = [w[start] for w in words]
    assert starts == sorted(starts)
    assert all(0 <= w[start] <= w[end] <= duration + 0.05 for w in words)


def test_transcribe_and_listen_run_each_decoder_class(tiny_model, recording):
    kind, model = tiny_model
    path, duration = recording
    result = run_cli("transcribe", str(path), "--model", str(model), "--device", "cpu", "--no-service",
                     "--format", "json", "--output-dir", "-")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    document = json.loads(result.stdout)
    words = [w for s in document["segments"] for w in s["words"]]
    assert words, f"the {kind} model heard nothing"  # a responsive random model always says something
    _well_timed(words, duration)
    assert document["duration"] == pytest.approx(duration, abs=0.01)

    listened = run_cli("listen", "--input", str(path), "--fast", "--mode", "handsfree", "--model", str(model))
    assert listened.returncode == 0 and "Traceback" not in listened.stderr, listened.stderr
    events = [json.loads(line) for line in listened.stdout.splitlines()]
    finals = [e for e in events if e["type"] == "final"]
    assert finals and any(f["text"] for f in finals)
    for final in finals:
        _well_timed(final["words"], duration)


def test_the_service_serves_each_decoder_class(tiny_model, recording, tmp_path, service_process):
    kind, model = tiny_model
    path, duration = recording
    with service_process(model, tmp_path / "config") as served:
        answer = httpx.post(f"{served.base_url}/audio/transcriptions", headers=served.headers(),
                            files={"file": path.open("rb")}, data={"response_format": "verbose_json",
                                                                   "timestamp_granularities[]": "word"}, timeout=300)
        assert answer.status_code == 200, answer.text
        verbose = answer.json()
        assert verbose["words"] and " ".join(w["word"] for w in verbose["words"]) == verbose["text"]
        _well_timed(verbose["words"], duration)
        card = httpx.get(f"{served.base_url}/models/{model.name}", headers=served.headers()).json()
        assert card["loaded"] is True and card["streaming"] is False and card["word_timestamps"] is True

        audio, _ = soundfile.read(path, dtype="float32")
        streamed = asyncio.run(stream_samples(served.ws_url, audio, endpointing=True, token=served.token,
                                              realtime=False))
        finals = [e for e in streamed["events"] if e["type"] == "transcription" and e["is_final"]]
        assert finals and any(f["text"] for f in finals) and streamed["events"][-1] == {"type": "stopped"}
        for final in finals:
            _well_timed(final["words"], duration)
    assert "Traceback" not in "".join(served.log), f"{kind}: " + "".join(served.log)
