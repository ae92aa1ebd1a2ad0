"""Benchmark: short requests through ``serve`` and through ``cluster`` (Ray Serve) on one machine.

Each configuration is started as a user starts it (a process of its own, the committed speech
model on the CPU) and given the same closed-loop load: *clients* at once, each sending short
spoken clips (3–6 s) one after another for *seconds*. Figures per configuration: requests per
second, audio seconds recognised per second, latency median and p95, and any failures. Ratios:

- ``proxy_overhead``: ``cluster`` with one replica against ``serve`` with one thread (a replica
  holds one CPU, so Ray gives its model one thread): latency and throughput;
- ``scaling_1_to_2``: ``cluster`` with two replicas against one (goal ≥ 1.6× on two cores);
- ``batching``: ``serve`` (and ``cluster``) with short requests gathered against ``--no-batching``.

Prints JSON. ``--smoke`` runs a few seconds of each.

    python bench/cluster.py [--seconds 60] [--clients 8] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from tools.figures import median_p95  # noqa: E402
from tools.speech import PASSAGE, speak  # noqa: E402

MODEL = ROOT / "tests" / "fixtures" / "speech-tdt.nemo"


def clips(folder: Path, count: int) -> list[tuple[Path, float]]:
    made = []
    for n, text in enumerate(PASSAGE[:count]):
        samples = np.concatenate([np.zeros(3200, np.float32), speak(text), np.zeros(3200, np.float32)])
        path = folder / f"clip{n}.wav"
        soundfile.write(path, samples, 16000, subtype="PCM_16")
        made.append((path, len(samples) / 16000))
    return made


def load(url: str, headers: dict, files: list[tuple[Path, float]], clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    audio = 0.0
    failures: dict[str, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(n: int) -> None:
        nonlocal audio
        with httpx.Client(timeout=300) as http:
            k = n
            while time.monotonic() < deadline:
                path, duration = files[k % len(files)]
                k += 1
                started = time.perf_counter()
                try:
                    answer = http.post(f"{url}/v1/audio/transcriptions", headers=headers,
                                       files={"file": path.open("rb")})
                    status = str(answer.status_code)
                except httpx.TransportError as exc:
                    status = type(exc).__name__
                with lock:
                    if status == "200":
                        latencies.append(time.perf_counter() - started)
                        audio += duration
                    else:
                        failures[status] = failures.get(status, 0) + 1

    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    elapsed = time.monotonic() - started
    return {"requests": len(latencies), "requests_per_second": round(len(latencies) / elapsed, 2),
            "audio_seconds_per_second": round(audio / elapsed, 2), "latency_seconds": median_p95(latencies),
            "failures": failures}


def measure(command: str, options: tuple[str, ...], files, clients: int, seconds: float, env: dict | None = None):
    from service_support import serve

    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as folder:
        with serve(MODEL, Path(folder) / "config", *options, command=command, timeout=900,
                   extra_env={"RAY_USAGE_STATS_ENABLED": "0", **(env or {})}) as running:
            headers = running.headers()
            load(running.url, headers, files, clients, min(5.0, seconds))  # warm every replica up
            figures = load(running.url, headers, files, clients, seconds)
    print(f"{command} {' '.join(options)}: {figures}", file=sys.stderr, flush=True)
    return figures


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="load per configuration (default: 60)")
    parser.add_argument("--clients", type=int, default=8, help="clients at once (default: 8)")
    parser.add_argument("--smoke", action="store_true", help="a few seconds each")
    args = parser.parse_args()
    seconds = 4.0 if args.smoke else args.seconds
    folder = Path(tempfile.mkdtemp(prefix="bench-cluster-clips-"))
    files = clips(folder, 2 if args.smoke else 4)
    one_thread = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    runs = {
        "serve_one_thread": measure("serve", (), files, args.clients, seconds, one_thread),
        "serve_one_thread_no_batching": measure("serve", ("--no-batching",), files, args.clients, seconds,
                                                one_thread),
        "cluster_1_replica": measure("cluster", ("--replicas", "1"), files, args.clients, seconds),
        "cluster_2_replicas": measure("cluster", ("--replicas", "2"), files, args.clients, seconds),
    }
    if not args.smoke:
        runs["cluster_2_replicas_no_batching"] = measure("cluster", ("--replicas", "2", "--no-batching"), files,
                                                         args.clients, seconds)
    rps = {name: run["requests_per_second"] for name, run in runs.items()}
    p50 = {name: run["latency_seconds"]["median"] for name, run in runs.items()}
    report = {
        "benchmark": "cluster", "model": MODEL.name, "cpus": os.cpu_count(), "clients": args.clients,
        "seconds_per_run": seconds, "clip_seconds": [round(d, 2) for _, d in files], "runs": runs,
        "ratios": {
            "proxy_overhead": {"latency_median": ratio(p50["cluster_1_replica"], p50["serve_one_thread"]),
                               "throughput": ratio(rps["cluster_1_replica"], rps["serve_one_thread"])},
            "scaling_1_to_2": ratio(rps["cluster_2_replicas"], rps["cluster_1_replica"]),
            "batching_serve": ratio(rps["serve_one_thread"], rps["serve_one_thread_no_batching"]),
            "batching_cluster": ratio(rps["cluster_2_replicas"], rps.get("cluster_2_replicas_no_batching")),
        },
        "goals": {"scaling_1_to_2": 1.6, "proxy_overhead_latency_at_most": 1.1},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
