"""Benchmark: time from launching ``parakeet-desktop`` to its tray icon (or control window) being
up, and to the model being ready for dictation; with ``--cli``, the command line's time to a
model ready for ``transcribe``, before and after a change.

Starts the app as a user does, in a fresh process, on the X server named by DISPLAY, or on its
own Xvfb with a system tray (trayer) when there is none. Times are taken from outside (from the
launch until the app answers ``status``, and until it reports ready) and from inside (the app's
own clock from the start of its ``main``). Prints JSON with the median of each over the runs.

``--cli`` runs ``parakeet-desktop transcribe`` on a 1 s clip (so its time is the model's load
and little else) from this checkout and from ``--before REV`` (a git worktree of that revision),
alternating them, and times the stages in a process of their own: importing NeMo, restoring the
``.nemo``, making it ready (our part), the CPU warm-up, and the resident memory after each.
``--twin`` uses a random-weight twin of parakeet-tdt-0.6b-v3 (built once, cached), the size
users load; the default model is the small committed fixture.

    python bench/startup.py [--model tests/fixtures/speech-tdt.nemo] [--runs 3] [--device cpu]
    python bench/startup.py --cli [--before HEAD~5] [--twin] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from parakeet_desktop import control  # noqa: E402
from tools.desktop_session import Desktop  # noqa: E402
from tools.figures import cpu  # noqa: E402
from tools.waiting import wait_for  # noqa: E402


def _status(env: dict) -> dict | None:
    previous = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = env["XDG_RUNTIME_DIR"]  # where the app's socket is
    try:
        answer = control.send("status", timeout=1.0)
    except control.NotRunning:
        return None
    finally:
        if previous is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = previous
    return json.loads(answer.removeprefix("ok").strip())


def one_run(desktop: Desktop, model: str, device: str) -> dict:
    launched = time.perf_counter()
    app = desktop.spawn(sys.executable, "-m", "parakeet_desktop", "--model", model, "--device", device,
                        log="app")
    try:
        first = wait_for(lambda: _status(desktop.env), 120, "the app to answer", step=0.01)
        answered = time.perf_counter() - launched
        shown = wait_for(lambda: (s := _status(desktop.env)) and s["shown_after"] is not None and s, 120,
                     "the tray icon", step=0.01)
        ready = wait_for(lambda: (s := _status(desktop.env)) and s["ready_after"] is not None and s, 600,
                     "the model", step=0.02)
        ready_seconds = time.perf_counter() - launched
    finally:
        app.terminate()
        app.wait(30)
    return {"launch_to_answering": answered, "launch_to_ready": ready_seconds,
            "app_main_to_shown": shown["shown_after"], "app_main_to_ready": ready["ready_after"],
            "tray": first["tray"]}


STAGES = """
import json, sys, time
from pathlib import Path
t = time.perf_counter()
from nemo.collections.asr.models import ASRModel  # noqa: F401
imported = time.perf_counter() - t
from parakeet_desktop.engine.model import memory
from parakeet_desktop.engine.model.devices import DevicePlan
from parakeet_desktop.engine.model.loader import prepare_model, probe_audio, restore
from tools.waiting import wait_for  # noqa: E402
t = time.perf_counter()
nemo_model = restore(sys.argv[1])
restored, rss_restored = time.perf_counter() - t, memory.resident_bytes()
t = time.perf_counter()
model = prepare_model(nemo_model, Path(sys.argv[1]).name, DevicePlan("cpu", "float32"), warm_up=False)
prepared, rss_ready = time.perf_counter() - t, memory.resident_bytes()
t = time.perf_counter()
model.recognize([probe_audio(2.0)])
warm_up = time.perf_counter() - t
print(json.dumps({"import_nemo": imported, "restore": restored, "prepare_ours": prepared, "cpu_warm_up": warm_up,
                  "rss_after_restore_gb": rss_restored / 2**30, "rss_ready_gb": rss_ready / 2**30}))
"""


def cli_run(source: Path, model: str, clip: Path) -> float:
    """Seconds for ``transcribe`` of *clip* from the checkout at *source*, launch to exit."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "parakeet_desktop", "transcribe", str(clip), "--model", model,
                    "--device", "cpu", "--no-service", "--format", "txt", "--output-dir", "-"],
                   cwd=source, env=env, capture_output=True, check=True, timeout=3600)
    return time.perf_counter() - started


def twin_model() -> Path:
    """A random-weight twin of parakeet-tdt-0.6b-v3 as a .nemo file, built once."""
    from tools.nemo_models import PARAKEET_TDT_V3, write_nemo

    path = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "parakeet-bench" / "twin-v3.nemo"
    if not path.exists():
        write_nemo(PARAKEET_TDT_V3, path.with_suffix(".partial.nemo")).rename(path)
    return path


def cli_main(args) -> None:
    import soundfile

    from parakeet_desktop.engine.model.loader import probe_audio

    model = str(twin_model()) if args.twin else args.model
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "clip.wav"
        soundfile.write(clip, probe_audio(1.0), 16000)
        before = Path(folder) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(before), args.before], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            times: dict[str, list[float]] = {"before": [], "after": []}
            for _ in range(args.runs):
                times["before"].append(cli_run(before, model, clip))
                times["after"].append(cli_run(ROOT, model, clip))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, capture_output=True)
        staged = subprocess.run([sys.executable, "-c", STAGES, model], cwd=ROOT, capture_output=True, text=True,
                                check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    stages = json.loads(staged.stdout.strip().splitlines()[-1])
    medians = {k: statistics.median(v) for k, v in times.items()}
    print(json.dumps({
        "benchmark": "startup (command line)", "cpu": cpu(),
        "model": "parakeet-tdt-0.6b-v3 twin" if args.twin else model,
        "runs": args.runs, "before": args.before,
        "transcribe_1s_clip_seconds": {k: round(v, 2) for k, v in medians.items()},
        "ratio_before_over_after": round(medians["before"] / medians["after"], 3),
        "stages_seconds_and_memory": {k: round(v, 2) for k, v in stages.items()},
        "all_runs": {k: [round(t, 2) for t in v] for k, v in times.items()},
    }, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "tests" / "fixtures" / "speech-tdt.nemo"))
    parser.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cli", action="store_true", help="the command line's model-ready time, before and after")
    parser.add_argument("--before", default="HEAD", help="with --cli: the revision to compare with")
    parser.add_argument("--twin", action="store_true", help="with --cli: the 0.6B model's twin")
    args = parser.parse_args()
    if args.cli:
        return cli_main(args)

    with tempfile.TemporaryDirectory() as folder:
        desktop = Desktop(Path(folder))
        if os.environ.get("DISPLAY"):
            desktop.env["DISPLAY"] = os.environ["DISPLAY"]
        else:
            desktop.start()
        try:
            runs = [one_run(desktop, args.model, args.device) for _ in range(args.runs)]
        finally:
            desktop.stop()

    def median(key):
        return round(statistics.median(r[key] for r in runs), 3)

    # The app's clock starts in its main(), after Python has imported the command line; the
    # outside figures include starting the interpreter.
    launch_to_shown = median("launch_to_answering")
    print(json.dumps({
        "benchmark": "startup", "cpu": cpu(),
        "model": args.model,
        "runs": args.runs,
        "tray": all(r["tray"] for r in runs),
        "launch_to_tray_visible_seconds": launch_to_shown,
        "launch_to_model_ready_seconds": median("launch_to_ready"),
        "app_main_to_tray_visible_seconds": median("app_main_to_shown"),
        "app_main_to_model_ready_seconds": median("app_main_to_ready"),
        "all_runs": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in runs],
    }, indent=2))


if __name__ == "__main__":
    main()
