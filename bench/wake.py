"""Benchmark: giving the GPU back while idle, and waking up: what a user waits for at the
hotkey press after the model rested, beside the same recognition without a rest.

With a twin of parakeet-tdt-0.6b-v3 (same layer sizes, random weights) loaded through the app's
loader, printed as JSON:

- on CUDA: rest (weights to CPU memory, cache emptied) and wake (back to the GPU) times, median
  of a few rounds; GPU memory allocated and reserved before resting, while resting and after
  waking; the first recognition of a 5 s utterance after waking (CUDA graphs captured again)
  against the same recognition on a model that never rested, as a ratio;
- without CUDA: the move's CPU analogue, a copy of every weight in CPU memory (the model cannot
  rest there: nothing would be given back), and the weights' size, so the figure scales.

    python bench/wake.py [--smoke] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parakeet_desktop.engine.audio.decode import SAMPLE_RATE  # noqa: E402
from parakeet_desktop.engine.model.devices import plan_device, probe_cuda  # noqa: E402
from parakeet_desktop.engine.model.loader import load_model  # noqa: E402
from tools.figures import cpu  # noqa: E402
from tools.nemo_models import PARAKEET_TDT_V3, TINY, build_model  # noqa: E402
from tools.speech import passage  # noqa: E402


def _mb(value: int) -> float:
    return round(value / 2**20, 1)


def _memory() -> dict:
    import torch

    return {"allocated_mb": _mb(torch.cuda.memory_allocated()), "reserved_mb": _mb(torch.cuda.memory_reserved())}


def _timed(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def bench_cuda(model, speech, rounds: int) -> dict:
    import torch

    def recognise() -> float:
        seconds = _timed(lambda: model.recognize([speech]))
        torch.cuda.synchronize()
        return seconds

    for _ in range(2):
        recognise()  # warm: graphs captured, kernels chosen
    steady = statistics.median(recognise() for _ in range(rounds))
    before = _memory()
    rests, wakes, firsts, resting = [], [], [], {}
    for _ in range(rounds):
        rests.append(_timed(model.rest))
        resting = _memory()
        wakes.append(_timed(model.wake))
        firsts.append(recognise())
    return {"rest_seconds": round(statistics.median(rests), 3), "wake_seconds": round(statistics.median(wakes), 3),
            "memory_before_rest": before, "memory_while_resting": resting, "memory_after_wake": _memory(),
            "first_recognition_after_wake_seconds": round(statistics.median(firsts), 3),
            "recognition_without_rest_seconds": round(steady, 3),
            "first_after_wake_over_steady": round(statistics.median(firsts) / steady, 2),
            "press_to_first_text_extra_seconds": round(
                statistics.median(wakes) + statistics.median(firsts) - steady, 3)}


def bench_cpu(model, rounds: int) -> dict:
    import torch

    parameters = list(model.nemo.parameters()) + list(model.nemo.buffers())
    size = sum(p.numel() * p.element_size() for p in parameters)

    def copy() -> None:
        with torch.no_grad():
            for p in parameters:
                p.data = p.data.clone()

    seconds = statistics.median(_timed(copy) for _ in range(rounds))
    return {"weights_mb": _mb(size), "cpu_copy_seconds": round(seconds, 3),
            "cpu_copy_gb_per_second": round(size / seconds / 1e9, 2),
            "note": "no GPU here: the model does not rest on the CPU; the copy is the move's CPU analogue"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny twin (a check that it runs)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    plan = plan_device("auto", probe_cuda())
    shape = TINY if args.smoke else PARAKEET_TDT_V3
    speech = passage(5.0)[: 5 * SAMPLE_RATE]
    with tempfile.TemporaryDirectory() as folder:
        nemo_model = build_model(shape, Path(folder) / "build")
        path = Path(folder) / "twin.nemo"
        nemo_model.save_to(str(path))
        del nemo_model
        model = load_model(str(path), plan.device)
    report = {"benchmark": "wake", "cpu": cpu(), "model": "tiny twin" if args.smoke else "parakeet-tdt-0.6b-v3 twin",
              "device": model.device, "dtype": model.dtype, "rounds": args.rounds}
    if model.device == "cuda":
        import torch

        report["gpu"] = torch.cuda.get_device_name(0)
        report |= bench_cuda(model, speech, args.rounds)
    else:
        report |= bench_cpu(model, args.rounds)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
