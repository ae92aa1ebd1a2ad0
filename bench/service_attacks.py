"""The local service under abuse, for bench/service.py: measured on a ``parakeet-desktop serve``
process (its own memory, as a user's service has it), optionally of another checkout, so that a
change can be measured before and after in one run.

- refused bombs: ten hours of silence as FLAC (900 KB) and Ogg Vorbis (2.4 MB) posted at once;
  the server's peak RSS over its idle RSS while it refuses them, and how long refusing took;
- a short request behind a long one: a 3 s request alone (its own cost) and posted while a long
  file (an hour unless told) is being recognised; the difference is what the long file costs it.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parents[1]


def attacks(model: Path, bomb_hours: float, long_seconds: float, source: Path | None = None) -> dict:
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from support.media import flac_bomb, ogg_bomb
    from support.service import serve
    from tools.memory import peak_rss_mb, reset_peak, rss_mb
    from tools.speech import PASSAGE, passage, speak

    folder = Path(tempfile.mkdtemp(prefix="bench-attacks-"))
    bombs = [flac_bomb(folder / "silence.flac", bomb_hours), ogg_bomb(folder / "silence.ogg", bomb_hours)]
    short = folder / "short.wav"
    soundfile.write(short, np.concatenate([np.zeros(4800, np.float32), speak(PASSAGE[1])]), 16000, subtype="PCM_16")
    minute = passage(60.0)
    long = folder / "long.wav"
    soundfile.write(long, np.tile(minute, int(np.ceil(long_seconds / 60)))[: int(long_seconds * 16000)], 16000,
                    subtype="PCM_16")
    figures: dict = {"source": str(source or ROOT), "bomb_hours": bomb_hours,
                     "short_seconds": round(soundfile.info(short).duration, 2), "long_seconds": long_seconds}
    with serve(model, folder / "config", "--max-queue", "64", source=source) as running:
        headers = running.headers()

        def post(path: Path) -> tuple[int, float]:
            start = time.perf_counter()
            with path.open("rb") as f:
                answer = httpx.post(f"{running.url}/v1/audio/transcriptions", headers=headers, files={"file": f},
                                    timeout=None)
            return answer.status_code, time.perf_counter() - start

        pid = running.process.pid
        alone = [post(short)[1] for _ in range(4)][1:]  # the first warms
        idle = round(rss_mb(pid), 1)
        reset_peak(pid)
        answers: list[tuple[int, float]] = []
        threads = [threading.Thread(target=lambda b=b: answers.append(post(b))) for b in bombs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        peak = round(peak_rss_mb(pid), 1)
        figures["refused_bombs"] = {"statuses": sorted(s for s, _ in answers), "idle_rss_mb": idle, "peak_rss_mb": peak,
                                    "peak_over_idle_mb": round(peak - idle, 1),
                                    "seconds_to_answer": round(max(t for _, t in answers), 2)}

        long_answer: list[tuple[int, float]] = []
        runner = threading.Thread(target=lambda: long_answer.append(post(long)))
        runner.start()
        while httpx.get(f"{running.url}/health", headers=running.headers()).json()["queue_depth"] < 1:
            time.sleep(0.05)
        time.sleep(3.0)  # decoded, and its recognition under way
        status, behind = post(short)
        runner.join()
        figures["short_behind_long"] = {
            "short_alone_seconds": round(statistics.median(alone), 2), "short_behind_long_seconds": round(behind, 2),
            "waited_seconds": round(behind - statistics.median(alone), 2), "short_status": status,
            "long_status": long_answer[0][0], "long_seconds_to_answer": round(long_answer[0][1], 2)}
    return figures
