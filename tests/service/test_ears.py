"""eaRS's real-time protocol at ``/`` and at Dalston's path, with a client written from eaRS's
``docs/WEBSOCKET.md``: f32 little-endian mono at 24 kHz in binary frames, no start message,
``stop`` as a bare string or JSON, ``setlanguage``. Against ``parakeet-desktop serve`` with the
committed offline (TDT, buffered streaming) and cache-aware streaming speech models."""

from __future__ import annotations

import asyncio
import json

import httpx
import numpy as np
import pytest
import websockets
import websockets.exceptions
from scipy.signal import resample_poly

from support.models import SPEECH_MODEL, STREAMING_MODEL
from support.service import EARS_RATE, ears_client, stream_samples, ws_address
from support.speech import held_out_utterances, silence, word_error_rate


@pytest.fixture(scope="module")
def offline(tmp_path_factory, service_process):
    with service_process(SPEECH_MODEL, tmp_path_factory.mktemp("config")) as running:
        yield running


@pytest.fixture(scope="module")
def streaming(tmp_path_factory, service_process):
    """The cache-aware model, serving streams from this machine without the token."""
    with service_process(STREAMING_MODEL, tmp_path_factory.mktemp("config"), "--streams-without-token") as running:
        yield running
    assert "Traceback" not in "".join(running.log)


@pytest.fixture(scope="module")
def speech():
    """Two held-out sentences with a pause between them, at 16 kHz and at eaRS's 24 kHz."""
    (first, a), (second, b) = held_out_utterances(2)
    audio = np.concatenate([silence(0.3), a, silence(1.5), b, silence(0.8)])
    return [first, second], audio, resample_poly(audio, 3, 2).astype(np.float32)


def service_finals(served, audio24: np.ndarray) -> list[str]:
    """The texts of the finals ``/v1/stream`` gives for the same 24 kHz audio, a pause ending each."""
    own = asyncio.run(stream_samples(served.ws_url, audio24, rate=EARS_RATE, encoding="f32le", endpointing=True,
                                     token=served.token, realtime=False))
    return [e["text"] for e in own["events"] if e["type"] == "transcription" and e["is_final"] and e["text"]]


def check_words_and_finals(result: dict, duration: float) -> list[dict]:
    """Words come before the final that holds them, never contradicted, timed inside the audio;
    the finals, one per utterance."""
    messages = result["messages"]
    finals = [m for m in messages if m["type"] == "final"]
    assert finals and result["close_code"] == 1000
    words_so_far: list[dict] = []
    for message in messages:
        if message["type"] == "word":
            words_so_far.append(message)
        if message["type"] == "final":
            assert [w["word"] for w in words_so_far] == [w["word"] for w in message["words"]]
            assert " ".join(w["word"] for w in message["words"]) == message["text"]
            words_so_far = []
    assert not words_so_far  # no word after the last final
    words = [m for m in messages if m["type"] == "word"]
    starts = [w["start_time"] for w in words]
    assert starts == sorted(starts)
    assert all(0 <= w["start_time"] <= w["end_time"] <= duration + 0.05 for w in words)
    return finals


@pytest.mark.parametrize("path", ["/", "/v1/audio/transcriptions/stream?model=parakeet-desktop"])
def test_an_ears_client_gets_words_then_finals_that_match_the_service_stream(streaming, speech, path):
    references, audio16, audio24 = speech
    url = ws_address(streaming, path.replace("parakeet-desktop", "speech-streaming"))
    result = asyncio.run(ears_client(url, audio24))
    finals = [f for f in check_words_and_finals(result, len(audio16) / 16000) if f["text"]]
    assert len(finals) == 2
    assert word_error_rate(references, [f["text"] for f in finals]) <= 0.4
    # A cache-aware model's words come as the decoder commits them, before the client stops.
    assert any(m["type"] == "word" for m in result["before_stop"])
    # Each final has its segment and its language; the service's own stream gives the same text.
    segments = [m for m in result["messages"] if m["type"] == "segment"]
    assert [s["text"] for s in segments] == [f["text"] for f in finals]
    assert all(f["lang"] == "en" for f in finals)
    assert segments[0]["end_time"] <= segments[1]["start_time"]
    assert service_finals(streaming, audio24) == [f["text"] for f in finals]


def test_an_offline_models_words_come_with_each_final_and_never_change(offline, speech):
    """With a full-context final pass any word may change until the final, so words come with it."""
    references, audio16, audio24 = speech
    url = ws_address(offline, f"/?token={offline.token}")
    result = asyncio.run(ears_client(url, audio24, stop=json.dumps({"type": "stop"})))
    finals = [f for f in check_words_and_finals(result, len(audio16) / 16000) if f["text"]]
    assert len(finals) == 2 and word_error_rate(references, [f["text"] for f in finals]) <= 0.4
    assert service_finals(offline, audio24) == [f["text"] for f in finals]


def test_a_language_set_by_the_client_is_checked_and_reported(offline, speech):
    _, _, audio24 = speech
    url = ws_address(offline, f"/?token={offline.token}")
    result = asyncio.run(ears_client(url, audio24[: EARS_RATE * 4], realtime=False,
                                     before=[json.dumps({"type": "setlanguage", "lang": "fr"}),
                                             json.dumps({"type": "setlanguage", "lang": "en"}), "hello"]))
    errors = [m["message"] for m in result["messages"] if m["type"] == "error"]
    assert len(errors) == 2
    assert "does not recognise French" in errors[0] and "English" in errors[0]
    assert "Unknown command" in errors[1]
    finals = [m for m in result["messages"] if m["type"] == "final" and m["text"]]
    assert finals and all(f["lang"] == "en" for f in finals)
    assert not [m for m in result["messages"] if m["type"] == "language_detected"]  # named, not detected


def test_without_the_token_a_stream_is_refused_unless_the_owner_allowed_it(offline, streaming, speech):
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        asyncio.run(ears_client(ws_address(offline, "/"), speech[2][:EARS_RATE]))
    assert refused.value.response.status_code == 403
    result = asyncio.run(ears_client(ws_address(streaming, "/"), speech[2][: EARS_RATE * 3], realtime=False))
    assert result["close_code"] == 1000 and [m for m in result["messages"] if m["type"] == "final"]
    # Allowed without the token is only the streams: the HTTP API still needs it.
    assert httpx.get(f"{streaming.base_url}/models").status_code == 401
    # A web page is refused even so.
    for served in (offline, streaming):
        with pytest.raises(websockets.exceptions.InvalidStatus) as from_page:
            asyncio.run(ears_client(ws_address(served, f"/?token={served.token}"), speech[2][:EARS_RATE],
                                    headers={"Origin": "https://example.com"}))
        assert from_page.value.response.status_code == 403


def test_a_stop_without_audio_closes_and_a_model_not_loaded_is_named(offline):
    async def stop_only(url, stop=True):
        messages = []
        ws = await websockets.connect(url)
        try:
            if stop:
                await ws.send("stop")
            async for message in ws:
                messages.append(json.loads(message))
        except websockets.exceptions.ConnectionClosedError:
            pass  # closed with a code other than 1000
        return messages, ws.close_code

    messages, code = asyncio.run(stop_only(ws_address(offline, f"/?token={offline.token}")))
    assert messages == [] and code == 1000
    messages, code = asyncio.run(stop_only(
        ws_address(offline, f"/v1/audio/transcriptions/stream?model=nvidia/parakeet-rnnt-1.1b&token={offline.token}"),
        stop=False))
    assert code == 1008 and "not loaded here" in messages[0]["message"] and "speech-tdt" in messages[0]["message"]
