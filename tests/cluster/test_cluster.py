"""``parakeet-desktop cluster``: the service on a real local Ray cluster (two CPUs) with two CPU
replicas of the committed speech model behind Ray Serve's proxy, through real clients: jobs that
any replica answers for, a replica killed in the middle of load, and scaling 1 → 2 → 1 with
streams open. (The API itself, through both ``serve`` and ``cluster``: tests/service.)"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
import websockets
import websockets.exceptions

from support.models import DIARIZATION_MODEL, SPEECH_MODEL
from support.service import free_port, wav, ws_address
from support.speech import held_out_utterances, silence, word_error_rate
from tools.waiting import wait_for

REPLICA = "x-parakeet-replica"
# What a client may be told while a replica dies under it: try again (the proxy's and ours).
RETRIABLE = {429, 500, 502, 503, 504}


@pytest.fixture(scope="module")
def sentences(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio")
    return [(text, speech, wav(folder / f"sentence{i}.wav", np.concatenate([silence(0.3), speech, silence(0.3)])))
            for i, (text, speech) in enumerate(held_out_utterances(4))]


def health(cluster) -> dict:
    return httpx.get(f"{cluster.url}/health", headers=cluster.headers(), timeout=30).json()


def replicas(cluster) -> dict[str, dict]:
    return {r["replica"]: r for r in health(cluster)["cluster"]["replicas"] if r["status"] == "ready"}


def transcribe(cluster, path, timeout: float = 300) -> httpx.Response:
    return httpx.post(f"{cluster.base_url}/audio/transcriptions", headers=cluster.headers(),
                      files={"file": path.open("rb")}, timeout=timeout)


def wait_for_replicas(cluster, count: int) -> None:
    wait_for(lambda: len(replicas(cluster)) == count, 600, f"{count} replicas ready")


class Load:
    """Short requests, two at a time, until stopped (at most *limit*, loopback only): each one's
    status."""

    def __init__(self, cluster, path, limit: int = 3000) -> None:
        self.statuses: list[int] = []
        self.answered_by: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(cluster, path, limit), daemon=True)
        self._thread.start()

    def _one(self, cluster, path) -> None:
        try:
            answer = transcribe(cluster, path)
            self.statuses.append(answer.status_code)
            self.answered_by.add(answer.headers.get(REPLICA, "?"))
        except httpx.TransportError:
            self.statuses.append(0)  # the connection itself failed: that is a loss

    def _run(self, cluster, path, limit) -> None:
        with ThreadPoolExecutor(2) as pool:
            for _ in range(limit // 2):
                if self._stop.is_set():
                    break
                list(pool.map(lambda _: self._one(cluster, path), range(2)))

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join(600)
        return self.statuses


class LiveStream:
    """A WebSocket stream kept on one replica, fed speech in real time on a thread of its own
    until :meth:`stop` (or until the server closes it)."""

    def __init__(self, cluster, samples: np.ndarray, replica: str | None = None) -> None:
        self.cluster, self.samples, self.replica = cluster, samples, replica
        self.events: list[dict] = []
        self.closed_by_server = False
        self.on: str | None = None
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        assert self._connected.wait(120), "the stream did not connect"

    async def _connect(self):
        """Connect until the replica wanted answers (the proxy picks one)."""
        url = ws_address(self.cluster, f"/v1/stream?token={self.cluster.token}")
        for _ in range(100):
            ws = await websockets.connect(url, max_size=None)
            if self.replica is None or ws.response.headers.get(REPLICA) == self.replica:
                return ws
            await ws.close()
        raise AssertionError(f"no stream landed on replica {self.replica}")

    async def _run(self) -> None:
        ws = await self._connect()
        self.on = ws.response.headers.get(REPLICA)
        self._connected.set()
        await ws.recv()  # welcome
        await ws.send(json.dumps({"action": "start", "sample_rate": 16000, "encoding": "pcm_s16le",
                                  "endpointing": True}))

        async def listen():
            try:
                async for message in ws:
                    self.events.append(json.loads(message))
            except websockets.exceptions.ConnectionClosed:
                pass
            self.closed_by_server = not self._stop.is_set()

        listener = asyncio.create_task(listen())
        data = (np.clip(self.samples, -1, 1) * 32767).astype("<i2").tobytes()
        offset = 0
        try:
            while not self._stop.is_set() and not listener.done():
                await ws.send(data[offset:offset + 3200])  # 100 ms
                offset = (offset + 3200) % len(data)
                await asyncio.sleep(0.1)
            if not listener.done():
                await ws.send(json.dumps({"action": "stop"}))
        except websockets.exceptions.ConnectionClosed:
            pass
        await asyncio.wait_for(listener, 300)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(300)

    @property
    def finals(self) -> list[str]:
        return [e["text"] for e in self.events if e.get("type") == "transcription" and e["is_final"]]


def test_health_shows_each_replica_and_requests_reach_both(cluster_service, sentences):
    wait_for_replicas(cluster_service, 2)
    view = health(cluster_service)
    assert view["status"] == "ready" and view["replica"] in replicas(cluster_service)
    assert all(r["device"] == "cpu" and r["pid"] > 0 and r["version"] == view["version"]
               for r in view["cluster"]["replicas"])
    answered = {transcribe(cluster_service, sentences[0][2]).headers[REPLICA] for _ in range(12)}
    assert answered == set(replicas(cluster_service))


def test_a_job_is_answered_for_by_any_replica_and_can_be_cancelled(cluster_service, sentences, tmp_path):
    served, headers = cluster_service, cluster_service.headers()
    reference = transcribe(served, sentences[3][2]).json()["text"]
    created = httpx.post(f"{served.base_url}/jobs", headers=headers, files={"file": sentences[3][2].open("rb")},
                         data={"response_format": "verbose_json"}).json()
    polled_by: set[str] = set()

    def done() -> bool:
        answer = httpx.get(f"{served.base_url}/jobs/{created['id']}", headers=headers)
        polled_by.add(answer.headers[REPLICA])
        return answer.json()["status"] == "completed"

    wait_for(lambda: done() and len(polled_by) == 2, 300, "the job to finish, polled through both replicas")
    result = httpx.get(f"{served.base_url}/jobs/{created['id']}", headers=headers).json()["result"]
    assert result["text"] == reference and result["segments"]

    long = wav(tmp_path / "ten minutes.wav", np.tile(np.concatenate([sentences[0][1], silence(1.0)]), 200))
    job = httpx.post(f"{served.base_url}/jobs", headers=headers, files={"file": long.open("rb")}).json()["id"]
    wait_for(lambda: httpx.get(f"{served.base_url}/jobs/{job}", headers=headers).json()["status"] == "running",
             120, "the long job to start")
    cancelled = httpx.delete(f"{served.base_url}/jobs/{job}", headers=headers).json()
    assert cancelled["status"] == "cancelled"
    listed = httpx.get(f"{served.base_url}/jobs", headers=headers).json()["data"]
    assert {j["id"]: j["status"] for j in listed}[job] == "cancelled"
    # Both replicas are free again: short requests are answered long before the job could be done.
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: transcribe(served, sentences[1][2], timeout=60), range(4)))
    assert [a.status_code for a in answers] == [200] * 4


def test_a_replica_killed_mid_load_loses_nothing(cluster_service, sentences, tmp_path):
    served, headers = cluster_service, cluster_service.headers()
    wait_for_replicas(served, 2)
    audio = np.tile(np.concatenate([sentences[2][1], silence(1.0)]), 40)  # about 3 minutes
    path = wav(tmp_path / "three minutes.wav", audio)
    job = httpx.post(f"{served.base_url}/jobs", headers=headers, files={"file": path.open("rb")}).json()["id"]

    def running() -> dict:
        return httpx.get(f"{served.base_url}/jobs/{job}", headers=headers).json()

    wait_for(lambda: running().get("replica") is not None, 120, "the job to be claimed")
    doomed = running()["replica"]
    survivor = next(r for r in replicas(served) if r != doomed)
    stream = LiveStream(served, np.concatenate([sentences[1][1], silence(1.5)]), replica=survivor)
    load = Load(served, sentences[0][2])
    wait_for(lambda: len(load.statuses) >= 4, 300, "the load to be under way")
    os.kill(replicas(served)[doomed]["pid"], signal.SIGKILL)

    wait_for(lambda: running().get("replica") == survivor or running()["status"] == "completed", 120,
             "the job to move to the surviving replica")
    wait_for(lambda: running()["status"] == "completed", 600, "the job to finish on the survivor")
    statuses = load.stop()
    stream.stop()
    assert statuses and set(statuses) <= {200} | RETRIABLE, statuses
    assert statuses.count(200) >= len(statuses) - 4  # only those in flight on the killed replica
    whole = transcribe(served, path).json()["text"]
    assert running()["result"]["text"] == whole
    assert stream.on == survivor and not stream.closed_by_server and len(stream.finals) >= 2
    assert word_error_rate([sentences[1][0]], stream.finals[:1]) <= 0.4
    wait_for_replicas(served, 2)  # Serve starts another in its place


def test_scaling_one_two_one_under_load_fails_nothing_and_drained_streams_get_finals(cluster_service, sentences):
    import ray

    from parakeet_desktop.cluster.application import deploy
    from parakeet_desktop.cluster.options import ClusterOptions

    served = cluster_service
    wait_for_replicas(served, 2)
    ray.init(address=served.ray_address, logging_level=logging.WARNING)
    # The options the cluster_service fixture started it with, the counts aside: any other option
    # changed would make Serve replace every replica instead of scaling (and leave them changed
    # for the session's later tests).
    options = ClusterOptions(model=str(SPEECH_MODEL), device="cpu", port=urlsplit(served.url).port,
                             diarization_model=str(DIARIZATION_MODEL))
    speech = np.concatenate([sentences[1][1], silence(1.5)])
    try:
        streams = [LiveStream(served, speech, replica=r) for r in replicas(served)]
        load = Load(served, sentences[0][2])
        wait_for(lambda: all(s.finals for s in streams), 120, "each stream's first final")
        deploy(replace_count(options, 1), served.token)
        wait_for_replicas(served, 1)
        drained = [s for s in streams if s.closed_by_server]
        assert len(drained) == 1, [s.events[-2:] for s in streams]
        assert drained[0].events[-1]["type"] == "error" and "scaled down" in drained[0].events[-1]["message"]
        assert any(e.get("type") == "transcription" and e["is_final"] for e in drained[0].events[-3:])

        deploy(replace_count(options, 2), served.token)
        wait_for_replicas(served, 2)
        before = len(load.statuses)
        wait_for(lambda: len(load.statuses) >= before + 6, 300, "requests with two replicas")
        deploy(replace_count(options, 1), served.token)
        wait_for_replicas(served, 1)
        statuses = load.stop()
        assert statuses and set(statuses) == {200}, statuses
        for stream in streams:
            stream.stop()
        kept = [s for s in streams if not s.closed_by_server]
        assert kept and all(len(s.finals) >= 2 for s in kept)
    finally:
        deploy(replace_count(options, 2), served.token)
        ray.shutdown()
    wait_for_replicas(served, 2)


def replace_count(options, count: int):
    from dataclasses import replace

    return replace(options, replicas=count)


def test_the_command_says_what_is_missing_or_wrong(tmp_path):
    def cluster(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "parakeet_desktop", "cluster", "--model", str(SPEECH_MODEL),
                               *args], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})

    # Options it cannot use: tests/cli/test_server_commands.py (before Ray starts, in the fast tier).
    # A desktop install without the cluster extra: Ray cannot be imported.
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    missing = cluster("--replicas", "1", env={"PYTHONPATH": str(tmp_path)})
    assert missing.returncode == 1 and "parakeet-desktop[cluster]" in missing.stderr
    assert "Traceback" not in missing.stderr
    # A model the replicas cannot load: the replica's reason in one line, Ray stopped again.
    bad = tmp_path / "notes.nemo"
    bad.write_text("not a model\n" * 100)
    refused = subprocess.run([sys.executable, "-m", "parakeet_desktop", "cluster", "--model", str(bad), "--device",
                              "cpu", "--replicas", "1", "--num-cpus", "1", "--port", str(free_port())],
                             capture_output=True, text=True, timeout=600,
                             env={**os.environ, "PARAKEET_DESKTOP_CONFIG_DIR": str(tmp_path / "config")})
    assert refused.returncode == 3 and "Traceback" not in refused.stderr, refused.stderr
    assert "error: the replicas could not start: the model could not be loaded: notes.nemo" in refused.stderr
    assert refused.stderr.rstrip().endswith("Stopped.")
