"""Load on the local service, bounded and on loopback only: real-time streams and concurrent
uploads together for a minute on the tiny model, then many connect/disconnect cycles. Nothing
but 429s (which the clients retry) may go wrong, no final may be lost, memory must stay flat."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import numpy as np
import openai
import websockets

from support.service import health, wav
from support.speech import SENTENCES, silence, synthesize
from tools.memory import rss_mb

LOAD_SECONDS = 60.0
STREAMS = 8
UPLOADERS = 32


async def _speaker(url: str, token: str, audio: bytes, until: float, tally: dict) -> None:
    """One live stream after another: real-time 100 ms frames, stop, expect exactly one final."""
    while time.monotonic() < until:
        async with websockets.connect(f"{url}?token={token}") as ws:
            await ws.recv()
            await ws.send(json.dumps({"action": "start", "sample_rate": 16000, "encoding": "pcm_s16le"}))
            started = time.monotonic()
            for n, offset in enumerate(range(0, len(audio), 3200)):
                await ws.send(audio[offset : offset + 3200])
                await asyncio.sleep(max(0.0, started + (n + 1) * 0.1 - time.monotonic()))
            await ws.send(json.dumps({"action": "stop"}))
            finals = 0
            while True:
                event = json.loads(await asyncio.wait_for(ws.recv(), 120))
                if event["type"] == "transcription" and event["is_final"]:
                    finals += 1
                elif event["type"] == "error":
                    tally["stream_errors"].append(event["message"])
                elif event["type"] == "stopped":
                    break
            tally["streams"] += 1
            tally["finals"] += finals
            tally["lag"].append(time.monotonic() - started - len(audio) / 32000)


async def _uploader(api: openai.AsyncOpenAI, path: Path, until: float, tally: dict) -> None:
    """One request after another, each as soon as the last is answered. Clients that finish a
    request and send the next at once can take every place that frees up from those told to
    come back (the queue is not a line), so a client told to come back keeps coming back, as
    long as it takes, beyond the openai client's own retries."""
    while time.monotonic() < until:
        try:
            result = await api.audio.transcriptions.create(model="x", file=path)
        except openai.RateLimitError as exc:
            await asyncio.sleep(int(exc.response.headers["Retry-After"]))
            continue
        assert isinstance(result.text, str)
        tally["uploads"] += 1


def test_streams_and_uploads_together_then_many_short_connections(tmp_path, tiny_nemo, service_process):
    speech = synthesize(SENTENCES[0], tmp_path / "sentence.wav")
    import soundfile

    samples, _ = soundfile.read(speech, dtype="float32")
    audio = np.concatenate([silence(0.3), samples, silence(0.3)])
    pcm = (audio * 32767).astype("<i2").tobytes()
    short = wav(tmp_path / "short.wav", audio)
    retried_429 = []

    async def note_429(response: httpx.Response) -> None:
        if response.status_code == 429:
            retried_429.append(response.headers.get("Retry-After"))

    # A queue shorter than the number of clients, so some are told to come back and do.
    with service_process(tiny_nemo, tmp_path / "config", "--max-queue", "12") as running:
        tally = {"streams": 0, "finals": 0, "uploads": 0, "lag": [], "stream_errors": []}

        async def load():
            until = time.monotonic() + LOAD_SECONDS
            http = httpx.AsyncClient(event_hooks={"response": [note_429]}, timeout=120)
            api = openai.AsyncOpenAI(base_url=running.base_url, api_key=running.token, max_retries=20,
                                     http_client=http)
            await asyncio.gather(*(_speaker(running.ws_url, running.token, pcm, until, tally) for _ in range(STREAMS)),
                                 *(_uploader(api, short, until, tally) for _ in range(UPLOADERS)))
            await api.close()

        asyncio.run(load())
        assert tally["stream_errors"] == []
        assert tally["streams"] >= STREAMS and tally["finals"] == tally["streams"]  # one final per stream
        assert tally["uploads"] >= UPLOADERS
        assert retried_429 and all(after is not None and int(after) >= 1 for after in retried_429)

        async def cycles(count: int) -> None:
            for _ in range(count):
                async with websockets.connect(f"{running.ws_url}?token={running.token}") as ws:
                    await ws.recv()
                    await ws.send(json.dumps({"action": "start", "sample_rate": 16000}))
                    await ws.send(pcm[:6400])
                # closed mid-stream, without a stop

        asyncio.run(cycles(50))
        before = rss_mb(running.process.pid)
        asyncio.run(cycles(500))
        time.sleep(1.0)
        after = rss_mb(running.process.pid)
        figures = health(running)
        assert figures["streams"] == 0 and figures["queue_depth"] == 0
        assert after - before < 25, f"memory grew from {before:.0f} MB to {after:.0f} MB over 500 connections"
        print(json.dumps({"streams": tally["streams"], "uploads": tally["uploads"], "429s_retried": len(retried_429),
                          "max_stream_lag_s": round(max(tally["lag"]), 2), "rss_before_mb": round(before),
                          "rss_after_mb": round(after)}))
