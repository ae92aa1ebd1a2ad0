"""Benchmark: the local speech service against the in-process paths it wraps, on one machine.

For each model (the committed speech model, and a random-weight twin of parakeet-tdt-0.6b-v3 with
its joint biased to blank so it emits tokens at speech's rate), the engine runs on the thread
that loaded the model, as in ``parakeet-desktop serve``, and a client thread measures:

- HTTP transcription of a file vs the same file as an in-process file job (overhead ratio);
- a real-time WebSocket stream vs the same stream fed in-process in real time: time from the
  stop to the final text (what the service adds to what a streaming client waits for);
- latency of short requests at 1, 4 and 16 concurrent clients (median, p95);
- how many real-time WebSocket streams keep up (final text at most 2 s after the stop);
- whether encoding several streams' steps in one batch would pay (encoder time, batch of k vs
  k single calls);
- under abuse (bench/service_attacks.py, on a ``serve`` process of the committed speech model):
  peak memory while refusing ten-hour audio bombs, and what a short request waits behind a long
  file. ``--serve-from DIR`` runs that part on another checkout (the code before a change), and
  ``--attacks-only`` runs only it.

Prints JSON. ``--smoke`` runs every section small, with the tiny twin, its "real-time" streams fed
at eight times real time (it checks that each section runs, not what it measures).

    python bench/service.py [--models fixture,twin] [--file-seconds 60] [--smoke]
    python bench/service.py --attacks-only [--serve-from ../before] [--long-seconds 3600]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parakeet_desktop.engine.audio.decode import SAMPLE_RATE  # noqa: E402
from parakeet_desktop.engine.live.dictation import LiveSettings  # noqa: E402
from parakeet_desktop.engine.live.events import (
    FileDone,  # noqa: E402
    Final,  # noqa: E402
)
from parakeet_desktop.engine.live.loop import LiveEngine  # noqa: E402
from parakeet_desktop.engine.live.work import FileJob, Priority, Stream  # noqa: E402
from tools.figures import cpu, median_p95  # noqa: E402
from tools.speech import PASSAGE, passage, speak  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KEEP_UP_SECONDS = 2.0


def load(name: str, smoke: bool):
    from parakeet_desktop.engine.model.devices import plan_device, probe_cuda
    from parakeet_desktop.engine.model.loader import load_model, prepare_model
    from tools.nemo_models import PARAKEET_TDT_V3, TINY, build_model, make_sparse

    if name == "fixture":
        fixture = ROOT / "tests" / "fixtures" / "speech-tdt.nemo"
        return "speech-tdt (committed fixture)", load_model(str(fixture), "auto")
    with tempfile.TemporaryDirectory() as folder:
        nemo_model = build_model(TINY if smoke else PARAKEET_TDT_V3, Path(folder))
    make_sparse(nemo_model, passage(10.0))
    label = "tiny twin (smoke)" if smoke else "parakeet-tdt-0.6b-v3 twin (joint biased to blank)"
    return label, prepare_model(nemo_model, label, plan_device("auto", probe_cuda()))


def batching(model, k: int, repeats: int) -> dict:
    """Encoder time for k streams' steps (CPU/GPU preset buffer) one by one and as one batch."""
    from parakeet_desktop.engine.recognize.streaming import default_config

    config = default_config(model.device)
    buffer = passage(config.left + config.chunk + config.right + 0.5)
    steps = [np.roll(buffer, 1600 * i) for i in range(k)]
    model.encode_batch(steps)  # warm
    singles, batched = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        for step in steps:
            model.encode(step)
        singles.append(time.perf_counter() - start)
        start = time.perf_counter()
        model.encode_batch(steps)
        batched.append(time.perf_counter() - start)
    single, batch = statistics.median(singles), statistics.median(batched)
    return {"streams": k, "buffer_seconds": round(len(buffer) / SAMPLE_RATE, 2),
            "one_by_one_seconds": round(single, 4), "batched_seconds": round(batch, 4),
            "batched_over_one_by_one": round(batch / single, 3)}


class Client:
    """The measurements, run on a client thread while the engine serves on the main thread."""

    def __init__(self, engine: LiveEngine, url: str, token: str, folder: Path, args) -> None:
        self.engine, self.url, self.token, self.folder, self.args = engine, url, token, folder, args
        self.headers = {"Authorization": f"Bearer {token}"}
        self.tick = 0.1 / args.pace  # seconds between two 0.1 s pieces of a stream

    def in_process_file(self, path: Path) -> float:
        done = threading.Event()
        job = FileJob([path], priority=Priority.REQUEST,
                      listener=lambda event: done.set() if isinstance(event, FileDone) else None)
        start = time.perf_counter()
        self.engine.submit(job)
        done.wait()
        return time.perf_counter() - start

    def http_file(self, path: Path) -> float:
        import httpx

        start = time.perf_counter()
        with path.open("rb") as f:
            answer = httpx.post(f"{self.url}/v1/audio/transcriptions", headers=self.headers, files={"file": f},
                                data={"response_format": "verbose_json", "timestamp_granularities[]": "word"},
                                timeout=None)
        answer.raise_for_status()
        return time.perf_counter() - start

    def overhead(self, path: Path, repeats: int) -> dict:
        self.in_process_file(path), self.http_file(path)  # warm both
        local, http = [], []
        for _ in range(repeats):
            local.append(self.in_process_file(path))
            http.append(self.http_file(path))
        return {"file_seconds": round(soundfile.info(path).duration, 2),
                "in_process_seconds": median_p95(local), "http_seconds": median_p95(http),
                "http_over_in_process": round(statistics.median(http) / statistics.median(local), 3),
                "http_over_in_process_best": round(min(http) / min(local), 3)}

    def in_process_stream(self, audio: np.ndarray) -> float:
        """Seconds from the stop to the final text, fed in real time straight to the engine."""
        final = threading.Event()
        stream = Stream(lambda event: final.set() if isinstance(event, Final) else None)
        self.engine.open_stream(stream)
        start = time.perf_counter()
        for n, offset in enumerate(range(0, len(audio), SAMPLE_RATE // 10)):
            self.engine.stream_audio(stream, audio[offset : offset + SAMPLE_RATE // 10])
            time.sleep(max(0.0, start + (n + 1) * self.tick - time.perf_counter()))
        stop = time.perf_counter()
        self.engine.stop_stream(stream)
        final.wait()
        return time.perf_counter() - stop

    async def ws_stream(self, audio: np.ndarray, realtime: bool) -> dict:
        import websockets

        pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
        ws_url = self.url.replace("http://", "ws://") + f"/v1/stream?token={self.token}"
        async with websockets.connect(ws_url, max_size=None) as ws:
            await ws.recv()
            await ws.send(json.dumps({"action": "start", "sample_rate": SAMPLE_RATE, "encoding": "pcm_s16le"}))
            start = time.perf_counter()
            frame = SAMPLE_RATE // 10 * 2
            for n, offset in enumerate(range(0, len(pcm), frame)):
                await ws.send(pcm[offset : offset + frame])
                if realtime:
                    await asyncio.sleep(max(0.0, start + (n + 1) * self.tick - time.perf_counter()))
            stop = time.perf_counter()
            await ws.send(json.dumps({"action": "stop"}))
            final_at = None
            async for message in ws:
                event = json.loads(message)
                if event["type"] == "transcription" and event["is_final"]:
                    final_at = time.perf_counter()
                if event["type"] == "stopped":
                    break
        end = time.perf_counter()
        return {"wall": end - start, "stop_to_final": (final_at or end) - stop}

    def stream_compute(self, audio: np.ndarray, repeats: int) -> dict:
        self.in_process_stream(audio), asyncio.run(self.ws_stream(audio, realtime=False))  # warm
        local, ws = [], []
        for _ in range(repeats):
            local.append(self.in_process_stream(audio))
            ws.append(asyncio.run(self.ws_stream(audio, realtime=True))["stop_to_final"])
        return {"audio_seconds": round(len(audio) / SAMPLE_RATE, 2),
                "in_process_stop_to_final_seconds": median_p95(local),
                "websocket_stop_to_final_seconds": median_p95(ws),
                "websocket_over_in_process": round(statistics.median(ws) / statistics.median(local), 3)}

    def latency(self, path: Path, clients: int, total: int) -> dict:
        import httpx

        each = math.ceil(total / clients)
        times: list[float] = []

        def client() -> None:
            with httpx.Client(headers=self.headers, timeout=None) as http:
                for _ in range(each):
                    start = time.perf_counter()
                    with path.open("rb") as f:
                        http.post(f"{self.url}/v1/audio/transcriptions", files={"file": f}).raise_for_status()
                    times.append(time.perf_counter() - start)

        threads = [threading.Thread(target=client) for _ in range(clients)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        return {"clients": clients, "requests": len(times), "seconds": median_p95(times),
                "requests_per_second": round(len(times) / wall, 2)}

    def streams_keeping_up(self, audio: np.ndarray, counts: list[int]) -> dict:
        rows, best = [], 0
        for count in counts:
            async def together():
                return await asyncio.gather(*(self.ws_stream(audio, realtime=True) for _ in range(count)))

            results = asyncio.run(together())
            delays = [r["stop_to_final"] for r in results]
            keeps_up = max(delays) <= KEEP_UP_SECONDS
            rows.append({"streams": count, "stop_to_final_seconds": median_p95(delays), "keeps_up": keeps_up})
            if not keeps_up:
                break
            best = count
        return {"criterion": f"every stream's final within {KEEP_UP_SECONDS} s of its stop",
                "most_streams_keeping_up": best, "rows": rows}


def bench(label: str, model, args) -> dict:
    from parakeet_desktop.service.app import ServiceConfig
    from parakeet_desktop.service.link import EngineLink
    from parakeet_desktop.service.server import LocalService

    folder = Path(tempfile.mkdtemp(prefix="bench-service-"))
    long = folder / "long.wav"
    soundfile.write(long, passage(args.file_seconds), SAMPLE_RATE, subtype="PCM_16")
    sentence = np.concatenate([np.zeros(4800, np.float32), speak(PASSAGE[1]), np.zeros(4800, np.float32)])
    short = folder / "short.wav"
    soundfile.write(short, sentence, SAMPLE_RATE, subtype="PCM_16")
    utterance = np.concatenate([sentence, speak(PASSAGE[2]), np.zeros(4800, np.float32)])

    figures = {"model": label, "device": model.device, "batching_streams": batching(model, 4, args.repeats)}
    link = EngineLink(model.name)
    engine = LiveEngine(model, LiveSettings(), lambda event: None, microphone=False)
    link.attach(engine)
    service = LocalService(link, ServiceConfig(port=0, max_waiting=256), folder=folder, data_folder=folder / "data")
    service.start()
    client = Client(engine, service.url, service.token, folder, args)
    failure: list[BaseException] = []

    def measure() -> None:
        try:
            figures["http_file"] = client.overhead(long, args.repeats)
            figures["stream_compute"] = client.stream_compute(utterance, args.repeats)
            figures["latency_short_requests"] = [client.latency(short, n, args.requests) for n in args.clients]
            figures["real_time_streams"] = client.streams_keeping_up(utterance, args.streams)
        except BaseException as exc:
            failure.append(exc)
        finally:
            engine.shutdown()

    threading.Thread(target=measure, name="bench-client").start()
    engine.run()  # here, on the thread that loaded the model, as `serve` runs it
    service.stop()
    if failure:
        raise failure[0]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="fixture,twin")
    parser.add_argument("--file-seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=16, help="short requests per concurrency level")
    parser.add_argument("--smoke", action="store_true", help="every section, small and quick")
    parser.add_argument("--attacks-only", action="store_true", help="only the service under abuse")
    parser.add_argument("--serve-from", type=Path, help="the checkout whose service is abused (this one unless told)")
    parser.add_argument("--bomb-hours", type=float, default=10.0)
    parser.add_argument("--long-seconds", type=float, default=3600.0, help="the long file a short request meets")
    args = parser.parse_args()
    args.clients = [1, 4, 16]
    args.streams = [1, 2, 4, 8, 16]
    args.pace = 1.0
    if args.smoke:
        args.file_seconds, args.repeats, args.requests, args.pace = 8.0, 1, 4, 8.0
        args.clients, args.streams = [1, 4], [1, 2]
    import torch
    from service_attacks import attacks

    if args.smoke:
        args.long_seconds = 60.0
    results = []
    for name in [] if args.attacks_only else args.models.split(","):
        label, model = load(name, args.smoke)
        results.append(bench(label, model, args))
        del model
    abuse = attacks(ROOT / "tests" / "fixtures" / "speech-tdt.nemo", args.bomb_hours, args.long_seconds,
                    args.serve_from)
    print(json.dumps({"benchmark": "service", "cpu": cpu(), "torch_threads": torch.get_num_threads(),
                      "mode": "smoke" if args.smoke else "full",
                      "streams_fed_at_times_real_time": args.pace, "results": results, "attacks": abuse}, indent=2))


if __name__ == "__main__":
    main()
