"""Benchmark: short requests through ``serve`` and through ``cluster`` (Ray Serve) on one machine.

Each configuration is started as a user starts it (a process of its own, the committed speech
model on the CPU) and given the same closed-loop load: *clients* at once, each sending short
spoken clips (3–6 s) one after another for *seconds*. Figures per configuration: requests per
second, audio seconds recognised per second, latency median and p95, and any failures. Ratios:

- ``proxy_overhead``: ``cluster`` with one replica against ``serve`` with one thread (a replica
  holds one CPU, so Ray gives its model one thread): latency and throughput;
- ``scaling_1_to_2``: ``cluster`` with two replicas against one (goal ≥ 1.6× on two cores);
- ``batching``: ``serve`` (and ``cluster``) with short requests gathered against ``--no-batching``.

Prints JSON. ``--smoke`` runs a few seconds of each. ``--twin`` serves a random-weight twin of
parakeet-tdt-0.6b-v3 (its joint biased to blank, so it emits tokens at speech's rate) instead of
the small speech model: there recognition, not the HTTP path, is what each request costs.

    python bench/cluster.py [--seconds 60] [--clients 8] [--twin] [--smoke]
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

from tools.figures import cpu, median_p95  # noqa: E402
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


def twin(folder: Path) -> Path:
    """The 0.6B v3 twin, sparse, saved as a .nemo file the services load."""
    from tools.nemo_models import PARAKEET_TDT_V3, build_model, make_sparse
    from tools.speech import passage

    nemo_model = build_model(PARAKEET_TDT_V3, folder / "build")
    make_sparse(nemo_model, passage(10.0))
    path = folder / "twin.nemo"
    nemo_model.save_to(str(path))
    return path


def measure(model: Path, command: str, options: tuple[str, ...], files, clients: int, seconds: float,
            env: dict | None = None):
    from support.service import serve

    with (tempfile.TemporaryDirectory(prefix="bench-cluster-") as folder,
          serve(model, Path(folder) / "config", *options, command=command, timeout=900,
                extra_env={"RAY_USAGE_STATS_ENABLED": "0", **(env or {})}) as running):
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
    parser.add_argument("--twin", action="store_true", help="serve the 0.6B v3 twin (compute-bound requests)")
    parser.add_argument("--smoke", action="store_true", help="a few seconds each")
    args = parser.parse_args()
    seconds = 4.0 if args.smoke else args.seconds
    folder = Path(tempfile.mkdtemp(prefix="bench-cluster-clips-"))
    files = clips(folder, 2 if args.smoke else 4)
    model = twin(folder) if args.twin else MODEL
    one_thread = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

    def run(command: str, *options: str, env: dict | None = None) -> dict:
        return measure(model, command, options, files, args.clients, seconds, env)

    runs = {
        "serve_one_thread": run("serve", env=one_thread),
        "serve_one_thread_no_batching": run("serve", "--no-batching", env=one_thread),
        "cluster_1_replica": run("cluster", "--replicas", "1"),
        "cluster_2_replicas": run("cluster", "--replicas", "2"),
    }
    if not args.smoke:
        runs["cluster_2_replicas_no_batching"] = run("cluster", "--replicas", "2", "--no-batching")
    rps = {name: run["requests_per_second"] for name, run in runs.items()}
    p50 = {name: run["latency_seconds"]["median"] for name, run in runs.items()}
    report = {
        "benchmark": "cluster", "model": "parakeet-tdt-0.6b-v3 twin (sparse)" if args.twin else model.name,
        "cpu": cpu(), "cpus": os.cpu_count(), "clients": args.clients,
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
