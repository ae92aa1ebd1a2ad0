"""Running the local speech service for tests: as ``parakeet-desktop serve`` in a subprocess
(what users and the acceptance criteria run), or in this process around a model the test holds
(to set limits, or to hold the engine still)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import soundfile
import websockets
import websockets.exceptions

from support.cli import Command


@dataclass
class Served:
    url: str
    token: str
    process: subprocess.Popen | Command
    config_dir: Path
    log: list[str]
    ray_address: str | None = None  # the cluster's Ray, for ``cluster``

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def ws_url(self) -> str:
        return ws_address(self)

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


def health(server) -> dict:
    """``/health`` as the token's holder sees it (the queue, streams, model), of a ``serve``
    (Served) or an in-process service."""
    return httpx.get(f"{server.url}/health", headers={"Authorization": f"Bearer {server.token}"}, timeout=30).json()


def ws_address(server, path: str = "/v1/stream") -> str:
    """The WebSocket address of *path* on *server* (a service, served or in this process, or a
    cluster: anything with its ``url``)."""
    return server.url.replace("http://", "ws://") + path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serve(model: Path, config_dir: Path, *options: str, timeout: float = 300.0, extra_env: dict | None = None,
          source: Path | None = None, command: str = "serve"):
    """``parakeet-desktop serve`` (or *command* ``cluster``, on a local Ray head with two CPUs) on
    a free port, until it says it is ready; stopped with SIGTERM. *source*: another checkout of
    the app to run (a benchmark's "before")."""
    env = {**os.environ, "PARAKEET_DESKTOP_CONFIG_DIR": str(config_dir),
           "PARAKEET_DESKTOP_DATA_DIR": str(config_dir.parent / f"{config_dir.name}-data"), **(extra_env or {})}
    if source is not None:
        env["PYTHONPATH"] = str(source)
    port = ["--port", "0"]
    if command == "cluster":  # Serve's proxy takes the port it is given
        port = ["--port", str(free_port()), "--num-cpus", "2"]
    argv = [command, "--model", str(model), "--device", "cpu", *port, *options]
    if source is not None:  # another checkout's code: a process of its own
        process = subprocess.Popen([sys.executable, "-m", "parakeet_desktop", *argv], stderr=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, text=True, env=env, cwd=source)
        lines = process.stderr
    else:  # forked from the test session's process that imported NeMo already (support/cli.py)
        process = Command(argv, env=env)
        lines = process.stderr_lines()
    log: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in lines:
            log.append(line)
            if line.startswith("Ready:"):
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        serving = None
        if ready.wait(timeout) and process.poll() is None:
            serving = next((m.group(1) for line in log if (m := re.match(r"Serving on (\S+) ", line))), None)
        if serving is None:  # it ended, or is ending (its output closed before its exit is seen)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(30)
            raise RuntimeError(f"{command} did not become ready (exit status {process.poll()}):\n" + "".join(log))
        url = serving
        token = env.get("PARAKEET_DESKTOP_API_TOKEN") or (config_dir / "api-token").read_text().strip()
        ray_address = next((line.split()[1] for line in log if line.startswith("Ray: ")), None)
        yield Served(url, token, process, config_dir, log, ray_address)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                process.kill()
        if isinstance(process, Command):
            process.close()


@contextlib.contextmanager
def in_process_service(model, folder: Path, *, run_engine: bool = True, **limits):
    """The service around *model* in this process: (LocalService, LiveEngine, start_engine). With
    *run_engine* False the engine takes nothing from its inbox until ``start_engine()``."""
    from parakeet_desktop.engine.live.dictation import LiveSettings
    from parakeet_desktop.engine.live.loop import LiveEngine
    from parakeet_desktop.service.app import ServiceConfig
    from parakeet_desktop.service.link import EngineLink
    from parakeet_desktop.service.server import LocalService

    link = EngineLink(model.name)
    engine = LiveEngine(model, LiveSettings(), lambda event: None, microphone=False)
    link.attach(engine)
    thread = threading.Thread(target=engine.run, name="test-engine", daemon=True)
    service = LocalService(link, ServiceConfig(port=0, **limits), folder=folder, data_folder=folder / "data")
    service.start()
    if run_engine:
        thread.start()
    try:
        yield service, engine, thread.start
    finally:
        engine.shutdown()
        if thread.is_alive():
            thread.join(60)
        service.stop()


def wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    soundfile.write(path, samples, rate, subtype="PCM_16")
    return path


async def stream_samples(url: str, samples: np.ndarray, *, rate: int = 16000, encoding: str = "pcm_s16le",
                  endpointing: bool = False, realtime: bool = True, token: str | None = None, **start) -> dict:
    """Stream *samples* like a live microphone (100 ms frames, in real time), then stop; every
    message the server sent, with when it came relative to the stop. *start*: more fields of
    the start message."""
    async with websockets.connect(f"{url}?token={token}", max_size=None) as ws:
        welcome = json.loads(await ws.recv())
        await ws.send(json.dumps({"action": "start", "sample_rate": rate, "encoding": encoding,
                                  "endpointing": endpointing, **start}))
        received: list[tuple[float, dict]] = []
        stop_sent = {}

        async def listen():
            async for message in ws:
                event = json.loads(message)
                received.append((time.monotonic(), event))
                # The end of the conversation: the stream stopped, or none had started (a refused
                # start) and the server says so to the stop.
                if event["type"] == "stopped" or event["type"] == "error" and "Nothing to stop" in event["message"]:
                    return

        listener = asyncio.create_task(listen())
        frame = rate // 10
        data = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes() if encoding == "pcm_s16le" \
            else samples.astype("<f4").tobytes()
        width = 2 if encoding == "pcm_s16le" else 4
        started = time.monotonic()
        for n, offset in enumerate(range(0, len(samples), frame)):
            await ws.send(data[offset * width : (offset + frame) * width])
            if realtime:
                await asyncio.sleep(max(0.0, started + (n + 1) * 0.1 - time.monotonic()))
        stop_sent["t"] = time.monotonic()
        await ws.send(json.dumps({"action": "stop"}))
        await asyncio.wait_for(listener, 300)
    return {"welcome": welcome, "events": [e for _, e in received],
            "before_stop": [e for t, e in received if t < stop_sent["t"]]}


EARS_RATE = 24000


async def ears_client(url: str, samples: np.ndarray, *, stop: str = "stop", before: list[str] = (),
                      realtime: bool = True, headers: dict | None = None) -> dict:
    """Stream 24 kHz f32 samples as eaRS's clients do (100 ms frames), then *stop*; every message
    until the server closes, each with whether it came before the stop was sent."""
    async with websockets.connect(url, max_size=None, additional_headers=headers) as ws:
        for command in before:
            await ws.send(command)
        received: list[tuple[bool, dict]] = []
        stopped = asyncio.Event()

        async def listen():
            try:
                async for message in ws:
                    received.append((not stopped.is_set(), json.loads(message)))
            except websockets.exceptions.ConnectionClosed:
                pass

        listener = asyncio.create_task(listen())
        frame = EARS_RATE // 10
        started = time.monotonic()
        for n, offset in enumerate(range(0, len(samples), frame)):
            await ws.send(samples[offset : offset + frame].astype("<f4").tobytes())
            await asyncio.sleep(max(0.0, started + (n + 1) * 0.1 - time.monotonic()) if realtime else 0.005)
        stopped.set()
        await ws.send(stop)
        await asyncio.wait_for(listener, 300)  # the server closes the connection after the final
        code = ws.close_code
    return {"messages": [m for _, m in received], "before_stop": [m for early, m in received if early],
            "close_code": code}
