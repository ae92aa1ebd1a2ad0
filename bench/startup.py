"""Benchmark: time from launching ``parakeet-desktop`` to its tray icon (or control window) being
up, and to the model being ready for dictation.

Starts the app as a user does, in a fresh process, on the X server named by DISPLAY, or on its
own Xvfb with a system tray (trayer) when there is none. Times are taken from outside (from the
launch until the app answers ``status``, and until it reports ready) and from inside (the app's
own clock from the start of its ``main``). Prints JSON with the median of each over the runs.

    python bench/startup.py [--model tests/fixtures/speech-tdt.nemo] [--runs 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from parakeet_desktop import control  # noqa: E402
from tools.desktop_session import Desktop, wait  # noqa: E402


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
        first = wait(lambda: _status(desktop.env), 120, "the app to answer", step=0.01)
        answered = time.perf_counter() - launched
        shown = wait(lambda: (s := _status(desktop.env)) and s["shown_after"] is not None and s, 120,
                     "the tray icon", step=0.01)
        ready = wait(lambda: (s := _status(desktop.env)) and s["ready_after"] is not None and s, 600,
                     "the model", step=0.02)
        ready_seconds = time.perf_counter() - launched
    finally:
        app.terminate()
        app.wait(30)
    return {"launch_to_answering": answered, "launch_to_ready": ready_seconds,
            "app_main_to_shown": shown["shown_after"], "app_main_to_ready": ready["ready_after"],
            "tray": first["tray"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "tests" / "fixtures" / "speech-tdt.nemo"))
    parser.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

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
        "benchmark": "startup",
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
