"""Benchmark: every GPU figure a user notices, each beside NeMo's own path on the same audio.

On a CUDA machine, with a twin of parakeet-tdt-0.6b-v3 (same layer sizes, random weights, joint
biased towards blank so that it emits about as many tokens as speech) saved as a local .nemo:

- load: our ``load_model`` (restore, cast, move, warm-up with the CUDA-graph self-test) against
  NeMo's ``restore_from(map_location="cuda")``;
- files: RTFx for 1, 10 and 60 minutes of audio, our path at several batch sizes against NeMo's
  ``transcribe()`` of the same pieces at several batch sizes; peak VRAM of each;
- streaming: latency of one step with the GPU preset, median and p95;
- key release to final text for 2, 10 and 30 s utterances: finishing the stream, the full
  pass, and NeMo's ``transcribe()`` started at the release;
- bf16 against fp16 against fp32, and CUDA graphs on against off (file RTFx, step latency);
- the cost of giving way to dictation (a file batch with the per-layer-group wait against one
  without) and how soon a batch stops once dictation asks for the model.

Without CUDA it runs a smoke mode on the CPU (a tiny twin, seconds of audio) so that the suite
can check that the bench works. Prints JSON.

    python bench/gpu.py [--smoke]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parakeet_desktop.engine.audio.decode import SAMPLE_RATE  # noqa: E402
from parakeet_desktop.engine.model import packed  # noqa: E402
from parakeet_desktop.engine.model.devices import DevicePlan, plan_device, probe_cuda  # noqa: E402
from parakeet_desktop.engine.model.loader import load_model, prepare_model, restore  # noqa: E402
from parakeet_desktop.engine.model.speech import RecognitionCancelled  # noqa: E402
from parakeet_desktop.engine.recognize.files import FileTranscriber  # noqa: E402
from parakeet_desktop.engine.recognize.pieces import plan_pieces  # noqa: E402
from parakeet_desktop.engine.recognize.streaming import StreamingTranscriber, default_config  # noqa: E402
from tools.figures import cpu, cpu_name, median_p95  # noqa: E402
from tools.nemo_models import PARAKEET_TDT_V3, TINY, build_model, make_sparse, nemo_transcribe  # noqa: E402
from tools.speech import passage  # noqa: E402


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def timed(run, device: str) -> tuple[float, object]:
    _sync(device)
    start = time.perf_counter()
    result = run()
    _sync(device)
    return time.perf_counter() - start, result


def _peak_reset(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()


def _peak_mb(device: str) -> float | None:
    if device != "cuda":
        return None
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


def bench_load(path: Path, plan: DevicePlan) -> dict:
    import torch

    from parakeet_desktop.engine.model.loader import _import_nemo_asr

    ASRModel = _import_nemo_asr()
    nemo_seconds, nemo_model = timed(lambda: ASRModel.restore_from(str(path), map_location=plan.device), plan.device)
    del nemo_model
    if plan.device == "cuda":
        torch.cuda.empty_cache()
    ours_seconds, model = timed(lambda: load_model(str(path), plan.device), plan.device)
    return {"ours_seconds_with_warm_up": round(ours_seconds, 2), "nemo_restore_from_seconds": round(nemo_seconds, 2),
            "ratio_ours_over_nemo": round(ours_seconds / nemo_seconds, 3),
            "dtype": model.dtype, "cuda_graphs": model.cuda_graphs, "file_batch_seconds": model.batch_seconds,
            "vram_allocated_after_load_mb": _peak_mb(plan.device)}, model


def bench_files(model, audio_minutes: list[float], speech: np.ndarray, batch_seconds: list[float],
                nemo_batches: list[int]) -> list[dict]:
    rows = []
    for minutes in audio_minutes:
        audio = np.resize(speech, int(minutes * 60 * SAMPLE_RATE))
        seconds = len(audio) / SAMPLE_RATE
        row = {"audio_minutes": minutes, "ours": {}, "nemo_transcribe": {}}
        for budget in batch_seconds:
            transcriber = FileTranscriber(model, batch_seconds=budget)
            _peak_reset(model.device)
            elapsed, _ = timed(lambda t=transcriber: t.transcribe_array(audio), model.device)
            row["ours"][f"batch_{budget:g}s"] = {"rtfx": round(seconds / elapsed, 1),
                                                  "peak_vram_mb": _peak_mb(model.device)}
        pieces = [audio[p.start : p.end] for p in plan_pieces(audio, model.max_piece_seconds)]
        for batch in nemo_batches:
            _peak_reset(model.device)
            elapsed, _ = timed(lambda: nemo_transcribe(model, pieces, batch_size=batch, timestamps=True), model.device)
            row["nemo_transcribe"][f"batch_{batch}"] = {"rtfx": round(seconds / elapsed, 1),
                                                        "peak_vram_mb": _peak_mb(model.device)}
        best_ours = max(v["rtfx"] for v in row["ours"].values())
        best_nemo = max(v["rtfx"] for v in row["nemo_transcribe"].values())
        row["best_rtfx_ratio_ours_over_nemo"] = round(best_ours / best_nemo, 3)
        rows.append(row)
    return rows


def bench_streaming_steps(model, speech: np.ndarray, seconds: float) -> dict:
    config = default_config(model.device)
    steps: list[float] = []
    transcriber = StreamingTranscriber(model, config)
    audio = np.resize(speech, int(seconds * SAMPLE_RATE))
    chunk = round(config.chunk * SAMPLE_RATE)
    for start in range(0, len(audio), chunk):
        before = transcriber.steps
        elapsed, _ = timed(lambda: transcriber.accept(audio[start : start + chunk]), model.device)
        if transcriber.steps > before:
            steps.append(elapsed)
    transcriber.finish()
    return {"preset": {"chunk": config.chunk, "left": config.left, "right": config.right},
            "step_seconds": median_p95(steps, digits=4)}


def bench_release_to_final(model, speech: np.ndarray, lengths: list[float]) -> list[dict]:
    config = default_config(model.device)
    rows = []
    for seconds in lengths:
        audio = np.resize(speech, int(seconds * SAMPLE_RATE))
        transcriber = StreamingTranscriber(model, config)
        transcriber.accept(audio)  # all steps run before the release, as they do while speaking
        streamed, _ = timed(transcriber.finish, model.device)
        full, _ = timed(lambda: model.recognize([audio]), model.device)
        nemo, _ = timed(lambda: nemo_transcribe(model, audio), model.device)
        rows.append({"utterance_seconds": seconds, "streamed_finish_seconds": round(streamed, 4),
                     "full_pass_seconds": round(full, 4), "nemo_transcribe_seconds": round(nemo, 4),
                     "ratio_streamed_over_nemo": round(streamed / nemo, 3),
                     "ratio_full_pass_over_nemo": round(full / nemo, 3)})
    return rows


def bench_yield(model, speech: np.ndarray, seconds: float) -> dict:
    """A batch with the cancel hooks (and on a GPU their per-group wait) against one without,
    and how soon a batch in flight stops when cancelled."""
    audio = np.resize(speech, int(seconds * SAMPLE_RATE))
    pieces = [audio[p.start : p.end] for p in plan_pieces(audio, model.max_piece_seconds)]
    plain = min(timed(lambda: model.recognize(pieces), model.device)[0] for _ in range(3))
    never = threading.Event()
    hooked = min(timed(lambda: model.recognize(pieces, never), model.device)[0] for _ in range(3))
    # Dictation asks for the model a third of the way through the batch (wall-clock time, as a
    # key press comes): with the GPU's queue bound, the batch stops within about two layer
    # groups; without it, every layer was queued long before and the whole batch runs.
    cancel = threading.Event()
    asked: list[float] = []
    timer = threading.Timer(plain / 3, lambda: (asked.append(time.perf_counter()), cancel.set()))
    timer.start()
    try:
        model.recognize(pieces, cancel)
        outcome = "finished before the request"
    except RecognitionCancelled:
        outcome = "cancelled"
    _sync(model.device)
    end = time.perf_counter()
    timer.join()
    return {"batch_seconds_plain": round(plain, 4), "batch_seconds_with_yield_checks": round(hooked, 4),
            "yield_cost_ratio": round(hooked / plain, 3), "cancel_outcome": outcome,
            "request_to_stop_seconds": round(end - asked[0], 4) if outcome == "cancelled" else None}


def bench_variants(nemo_path: Path, plan: DevicePlan, speech: np.ndarray, file_minutes: float,
                   step_seconds: float) -> dict:
    """bf16 / fp16 / fp32, and CUDA graphs on / off, on file RTFx and streaming steps. On a CPU,
    a half type runs only where oneDNN has its products there (AVX-512 BF16, AMX, AVX-NE-CONVERT,
    AVX-512 FP16); the others are listed under "skipped" with the reason."""
    import torch

    dtypes = ("bfloat16", "float16", "float32") if plan.device == "cuda" else ("float32", "bfloat16", "float16")
    audio = np.resize(speech, int(file_minutes * 60 * SAMPLE_RATE))
    results: dict = {}
    for dtype in dtypes:
        if plan.device == "cpu" and not packed.available(getattr(torch, dtype)):
            results.setdefault("skipped", {})[dtype] = f"this CPU has no oneDNN {dtype} products ({cpu_name()})"
            continue
        model = prepare_model(restore(str(nemo_path)), "twin", DevicePlan(plan.device, dtype))
        transcriber = FileTranscriber(model)
        graph_settings = [True, False] if model.cuda_graphs else [False]
        for graphs in graph_settings:
            if not graphs and model.cuda_graphs:
                model.nemo.decoding.decoding.disable_cuda_graphs()
                model.cuda_graphs = False
            transcriber.transcribe_array(audio)  # warm this setting
            _peak_reset(model.device)
            elapsed, _ = timed(lambda t=transcriber: t.transcribe_array(audio), model.device)
            results[f"{dtype}, cuda graphs {'on' if graphs else 'off'}"] = {
                "file_rtfx": round(len(audio) / SAMPLE_RATE / elapsed, 1),
                "peak_vram_mb": _peak_mb(model.device),
                "streaming": bench_streaming_steps(model, speech, step_seconds)["step_seconds"],
            }
        del model, transcriber
        if plan.device == "cuda":
            torch.cuda.empty_cache()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="the smallest run (the default without CUDA)")
    args = parser.parse_args()

    import torch

    plan = plan_device("auto", probe_cuda())
    smoke = args.smoke or plan.device != "cuda"
    shape = TINY if smoke else PARAKEET_TDT_V3
    sizes = {  # smoke: a tiny twin and seconds of audio; GPU: the figures users care about
        "file_minutes": [0.1, 0.25] if smoke else [1, 10, 60],
        "batch_seconds": [60, 120] if smoke else [60, 300, 1200],
        "nemo_batches": [1, 4] if smoke else [1, 4, 16],
        "utterances": [2, 5] if smoke else [2, 10, 30],
        "step_seconds": 6 if smoke else 30,
        "yield_seconds": 30 if smoke else 600,
        "variant_minutes": 0.1 if smoke else 1,
    }
    speech = passage(20.0 if smoke else 60.0)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        nemo_model = build_model(shape, Path(folder) / "build")
        tokens_per_second = make_sparse(nemo_model, speech[: 10 * SAMPLE_RATE])
        path = Path(folder) / "twin.nemo"
        nemo_model.save_to(str(path))
        del nemo_model
        load, model = bench_load(path, plan)
        report = {
            "benchmark": "gpu", "cpu": cpu(),
            "mode": "smoke (CPU, tiny twin)" if smoke else "full",
            "device": plan.device, "planned_dtype": plan.dtype, "why": plan.why,
            "gpu": torch.cuda.get_device_name(0) if plan.device == "cuda" else None,
            "model": "tiny twin" if smoke else "parakeet-tdt-0.6b-v3 twin",
            "twin_tokens_per_second": round(tokens_per_second, 2),
            "load": load,
            "files": bench_files(model, sizes["file_minutes"], speech, sizes["batch_seconds"], sizes["nemo_batches"]),
            "streaming": bench_streaming_steps(model, speech, sizes["step_seconds"]),
            "release_to_final": bench_release_to_final(model, speech, sizes["utterances"]),
            "yield_to_dictation": bench_yield(model, speech, sizes["yield_seconds"]),
        }
        del model
        report["dtypes_and_graphs"] = bench_variants(path, plan, speech, sizes["variant_minutes"],
                                                     sizes["step_seconds"])
    report["bench_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
