"""Generated requests and WebSocket conversations against ``parakeet-desktop serve`` (hypothesis,
170 cases, about a minute): whatever arrives, the answer is never a server error, every error
comes in OpenAI's envelope, and the service's log holds no traceback. Most requests are uploads
as a client sends them, with any fields and any file, so that most reach the decoder and the
model; the cases are the same on every run (derandomize), so a failure can be replayed."""

from __future__ import annotations

import asyncio
import io
import json

import httpx
import numpy as np
import pytest
import soundfile
import websockets
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

ROUTES = ["/v1/audio/transcriptions", "/transcribe", "/v1/jobs", "/v1/jobs/job_0123456789abcdef", "/v1/models",
          "/v1/models/parakeet", "/health", "/v1/stream", "/", "/v1/audio/translations"]
FIELDS = ["response_format", "timestamp_granularities[]", "timestamp_granularities", "language", "prompt",
          "keywords", "keywords[]", "stream", "model", "temperature"]
CHOSEN_VALUES = ["json", "text", "srt", "vtt", "verbose_json", "word", "segment", "en", "xx", "true", "false",
                 "[]", "[\"a\", \"b\"]", "[1, 2", "parakeet", "nvidia/parakeet-tdt-0.6b-v2", "", "0"]


def _wav(seconds: float, rate: int, channels: int) -> bytes:
    buffer = io.BytesIO()
    samples = np.random.default_rng(0).normal(0, 0.1, (int(seconds * rate), channels)).astype(np.float32)
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


_files = st.one_of(
    st.binary(max_size=2048),
    st.builds(_wav, st.floats(0.0, 3.0), st.sampled_from([8000, 16000, 44100]), st.integers(1, 2)),
    st.builds(lambda data, cut: data[:cut], st.builds(_wav, st.just(1.0), st.just(16000), st.just(1)),
              st.integers(0, 200)),
)
_names = st.one_of(st.sampled_from(["a.wav", "a.mp3", "a.ogg", "a.flac", "a.mp4", "audio", "", ".wav"]),
                   st.text(max_size=40))
_values = st.one_of(st.sampled_from(CHOSEN_VALUES), st.text(max_size=300))


@st.composite
def requests(draw):
    """Mostly uploads as a client would send them, with any fields and any file; else anything."""
    fields = draw(st.lists(st.tuples(st.sampled_from(FIELDS), _values), max_size=6))
    upload = draw(st.tuples(_names, _files))
    if draw(st.integers(0, 9)) < 7:
        path = draw(st.sampled_from(["/v1/audio/transcriptions", "/transcribe", "/v1/jobs"]))
        return "POST", path, "", "good", fields, "multipart", upload
    method = draw(st.sampled_from(["GET", "POST", "DELETE", "PUT", "OPTIONS"]))
    path = draw(st.one_of(st.sampled_from(ROUTES), st.text(min_size=1, max_size=30).map(lambda t: "/" + t)))
    auth = draw(st.sampled_from(["good", "good", "none", "wrong", "basic"]))
    kind = draw(st.sampled_from(["multipart", "json", "raw", "none"]))
    query = draw(st.one_of(st.just(""), st.sampled_from(["?nonce=00", "?nonce=" + "a" * 32, "?token=x"]),
                           st.text(max_size=20).map(lambda t: "?" + t)))
    return method, path, query, auth, fields, kind, draw(st.one_of(st.none(), st.just(upload)))


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_nemo, service_process):
    with service_process(tiny_nemo, tmp_path_factory.mktemp("config")) as running:
        yield running
    assert "Traceback" not in "".join(running.log), "".join(running.log)


def _headers(served, auth: str) -> dict:
    return {"good": {"Authorization": f"Bearer {served.token}"}, "none": {},
            "wrong": {"Authorization": "Bearer wrong"}, "basic": {"Authorization": "Basic dXNlcjpwYXNz"}}[auth]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
          phases=[Phase.generate], database=None)
@given(request=requests())
def test_no_generated_request_gets_a_server_error(served, request):
    method, path, query, auth, fields, kind, upload = request
    headers = _headers(served, auth)
    kwargs: dict = {}
    if kind == "multipart":
        kwargs["data"] = {}
        for name, value in fields:
            kwargs["data"].setdefault(name, []).append(value)
        if upload is not None:
            kwargs["files"] = {"file": (upload[0] or "file", upload[1])}
        elif not fields:
            kwargs["files"] = {"other": ("x", b"")}
    elif kind == "json":
        kwargs["json"] = dict(fields)
    elif kind == "raw" and upload is not None:
        kwargs["content"] = upload[1]
    with httpx.Client(base_url=served.url, timeout=120) as client:
        try:
            response = client.request(method, path + query, headers=headers, **kwargs)
        except httpx.InvalidURL:
            return  # not a request a client can send
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith("application/json"):
        error = response.json()["error"]
        assert isinstance(error["message"], str) and error["message"] and "Traceback" not in error["message"]


_messages = st.lists(st.one_of(
    st.binary(max_size=4000),
    st.text(max_size=200),
    st.builds(json.dumps, st.fixed_dictionaries({"action": st.sampled_from(["start", "stop", "pause", 1, None])},
                                                optional={"sample_rate": st.one_of(st.integers(-10, 500000), st.text()),
                                                          "encoding": st.sampled_from(["pcm_s16le", "f32le", "mp3", 3]),
                                                          "endpointing": st.one_of(st.booleans(), st.text()),
                                                          "keywords": st.one_of(st.lists(st.text(max_size=120)),
                                                                                st.integers(), st.text()),
                                                          "prompt": st.one_of(st.text(max_size=300), st.integers())})),
    # JSON nested deeper than a parser goes, alone or in a field of a start.
    st.builds(lambda depth, key: f'{{"action": "start", "{key}": ' + "[" * depth + "]" * depth + "}",
              st.integers(1, 20000), st.sampled_from(["x", "keywords", "prompt", "sample_rate"])),
    st.builds(lambda depth: "[" * depth + "]" * depth, st.integers(500, 20000)),
), max_size=12)


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
          phases=[Phase.generate], database=None)
@given(messages=_messages)
def test_no_generated_stream_conversation_breaks_the_service(served, messages):
    async def talk() -> list[dict]:
        answers = []
        async with websockets.connect(f"{served.ws_url}?token={served.token}", max_size=None) as ws:
            answers.append(json.loads(await ws.recv()))
            for message in messages:
                await ws.send(message)
            await ws.send(json.dumps({"action": "stop"}))
            try:
                while True:
                    answers.append(json.loads(await asyncio.wait_for(ws.recv(), 1.0)))
            except TimeoutError:
                pass  # quiet: everything sent has been answered
            assert ws.close_code is None, ws.close_code  # still open: no message broke it
        return answers

    answers = asyncio.run(talk())
    assert answers[0]["type"] == "welcome"
    assert all(a["type"] in ("transcription", "error", "stopped", "warning") for a in answers[1:])
    assert httpx.get(f"{served.url}/health").json()["status"] == "ready"
