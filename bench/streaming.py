"""Benchmark: live dictation through stand-in microphone → speech gate → streaming recognition.

Each utterance (espeak-ng speech with silence around it) is played through the stand-in
microphone into a LiveEngine in push-to-talk mode; the end of the recording is the key release.
Runs in real time (as a person speaks) and as fast as possible, on the speech fixture model and
on a random-weight twin of parakeet-tdt-0.6b-v3 (same layer sizes, so the compute is real).
Prints JSON with, as median and p95:

- compute per second of audio (fast runs: wall time / audio seconds),
- partial-caption lag: from the moment the newest audio a caption covers was captured to the
  caption's arrival (real-time runs; on top of this, captions trail speech by the chunk),
- stop to final: from the key release to the final text (real-time runs), for the streamed text
  alone and with the full-context final pass where the settings choose it (``auto``);
  beside it, in the same run, NeMo's own ``transcribe()`` of the whole utterance started at the
  release, which is what a dictation app without streaming waits for.

Two twins: one with random weights as built (its joint emits several times more tokens than
speech has, so decoding dominates), and one whose joint is biased towards blank so that it emits
about 3.5 tokens a second, as real speech does; the second is the closer stand-in for the
trained model's cost.

The cache-aware route (``streaming-twin``): a random twin of nemotron-speech-streaming-en-0.6b
(24 layers, d_model 1024, RNN-T; joint biased as the sparse twin's), once for each step it
offers (80, 160, 560, 1120 ms, or those given with ``--steps``), in the same run as the buffered
0.6B v3 twin: compute per second of audio, caption lag (audio to caption, on top of the step
itself) and release to final, each beside the buffered route's as a ratio.

    python bench/streaming.py [--models tiny,twin,sparse-twin,streaming-twin] [--utterances 8]
                              [--steps 80,160,560,1120] [--device auto] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parakeet_desktop.engine.audio.decode import SAMPLE_RATE  # noqa: E402
from parakeet_desktop.engine.audio.file_device import FileSoundDevice  # noqa: E402
from parakeet_desktop.engine.live.dictation import LiveSettings, Mode  # noqa: E402
from parakeet_desktop.engine.live.events import ErrorEvent, Final  # noqa: E402
from parakeet_desktop.engine.live.loop import LiveEngine  # noqa: E402
from parakeet_desktop.engine.live.modes import FinalPass  # noqa: E402
from parakeet_desktop.engine.model.devices import plan_device, probe_cuda  # noqa: E402
from parakeet_desktop.engine.model.loader import load_model, prepare_model  # noqa: E402
from parakeet_desktop.engine.recognize.stream_route import route_config  # noqa: E402
from parakeet_desktop.engine.recognize.streaming import StreamingChoice, StreamingConfig, StreamTap  # noqa: E402
from tools.figures import cpu, median_p95  # noqa: E402
from tools.nemo_models import (  # noqa: E402
    NEMOTRON_STREAMING,
    PARAKEET_TDT_V3,
    TINY,
    TINY_STREAMING,
    build_model,
    make_responsive,
    make_sparse,
    nemo_transcribe,
)
from tools.speech import PASSAGE, held_out_speech, passage, speak  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "speech-tdt.nemo"


class TimedDevice(FileSoundDevice):
    """The stand-in microphone, noting when its recording ended (the key release)."""

    def InputStream(self, **settings):  # noqa: N802
        finished = settings["finished_callback"]

        def release():
            self.released_at = time.perf_counter()
            finished()

        settings["finished_callback"] = release
        return super().InputStream(**settings)


class Arrivals:
    """When each sample of the utterance reached the recogniser, and what each step covered,
    through the stream's public measuring tap."""

    def __init__(self) -> None:
        self.marks: list[tuple[int, float]] = []
        self.steps: list[tuple[int, float]] = []
        self.tap = StreamTap(stored=self._stored, stepped=self._stepped)

    def _stored(self, samples: int) -> None:
        self.marks.append((samples, time.perf_counter()))

    def _stepped(self, end: int, final: bool) -> None:
        if not final:
            self.steps.append((end, time.perf_counter()))

    def reset(self) -> None:
        self.marks.clear()
        self.steps.clear()

    def arrival_of(self, sample: int) -> float:
        for length, at in self.marks:
            if length >= sample:
                return at
        return self.marks[-1][1]


def _play(model, recording: np.ndarray, settings: LiveSettings, realtime: bool, arrivals: Arrivals):
    events: list[tuple[float, object]] = []
    device = TimedDevice(samples=recording, realtime=realtime)
    engine = LiveEngine(model, settings, lambda e: events.append((time.perf_counter(), e)), sd=device,
                        until_input_ends=True, tap=arrivals.tap)
    arrivals.reset()
    engine.start(Mode.PUSH_TO_TALK)
    started = time.perf_counter()
    engine.run()  # on the thread that loaded the model, as the app does
    final_at, final = next((t, e) for t, e in events if isinstance(e, Final))
    lags = [done - arrivals.arrival_of(end) for end, done in arrivals.steps]
    errors = [e.message for _, e in events if isinstance(e, ErrorEvent)]
    return {"final": final, "stop_to_final": final_at - device.released_at,
            "wall": final_at - started, "lags": lags, "errors": errors}


def bench_model(name: str, model, utterances: list[tuple[str, np.ndarray]], settings_base: LiveSettings,
                arrivals: Arrivals) -> dict:
    import jiwer

    config = route_config(settings_base.streaming, model)
    recordings = [np.concatenate([np.zeros(SAMPLE_RATE * 3 // 10, np.float32), speech,
                                  np.zeros(SAMPLE_RATE * 3 // 10, np.float32)]) for _, speech in utterances]
    audio_seconds = [len(r) / SAMPLE_RATE for r in recordings]
    streamed = LiveSettings(streaming=config, final_pass=FinalPass.NEVER)
    auto = LiveSettings(streaming=config, final_pass=FinalPass.AUTO)
    _play(model, recordings[0], streamed, realtime=False, arrivals=arrivals)  # warm-up

    fast, realtime_streamed, realtime_auto, nemo_at_release = [], [], [], []
    for recording in recordings:
        fast.append(_play(model, recording, streamed, realtime=False, arrivals=arrivals))
        realtime_streamed.append(_play(model, recording, streamed, realtime=True, arrivals=arrivals))
        realtime_auto.append(_play(model, recording, auto, realtime=True, arrivals=arrivals))
        start = time.perf_counter()
        nemo_transcribe(model, recording)
        nemo_at_release.append(time.perf_counter() - start)

    references = [text for text, _ in utterances]
    runs = fast + realtime_streamed + realtime_auto
    errors = [message for r in runs for message in r["errors"]]
    stop_streamed = [r["stop_to_final"] for r in realtime_streamed]
    stop_auto = [r["stop_to_final"] for r in realtime_auto]
    return {
        "model": name,
        "device": model.device,
        "dtype": model.dtype,
        # Any error means some figures below are of a fallback path, not of streaming.
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "streaming": ({"chunk": config.chunk, "left": config.left, "right": config.right}
                      if isinstance(config, StreamingConfig) else {"cache_aware_step": config.step}),
        "utterances": len(recordings),
        "utterance_seconds": median_p95(audio_seconds),
        "compute_per_audio_second": median_p95([r["wall"] / s for r, s in zip(fast, audio_seconds)]),
        "partial_lag_seconds": median_p95([lag for r in realtime_streamed for lag in r["lags"]]),
        "stop_to_final_seconds_streamed": median_p95(stop_streamed),
        "stop_to_final_seconds_auto_final_pass": median_p95(stop_auto),
        "full_context_final_passes": sum(r["final"].full_context for r in realtime_auto),
        "nemo_transcribe_at_release_seconds": median_p95(nemo_at_release),
        "stop_to_final_ratio_streamed_over_nemo": round(
            statistics.median(stop_streamed) / statistics.median(nemo_at_release), 3),
        "stop_to_final_ratio_auto_over_nemo": round(
            statistics.median(stop_auto) / statistics.median(nemo_at_release), 3),
        "wer_streamed": round(jiwer.wer(references, [r["final"].text for r in realtime_streamed]), 4),
        "wer_auto": round(jiwer.wer(references, [r["final"].text for r in realtime_auto]), 4),
        "final_words_per_second": round(
            sum(len(r["final"].text.split()) for r in realtime_streamed) / sum(audio_seconds), 2),
    }


def bench_cache_aware(shape, plan, utterances, steps_ms: list[int], arrivals: Arrivals) -> list[dict]:
    """The cache-aware twin once for each step, each run as the buffered twins are."""
    with tempfile.TemporaryDirectory() as folder:
        nemo_model = build_model(shape, Path(folder))
    nemo_model.encoder.set_default_att_context_size(nemo_model.encoder.att_context_size_all[0])
    rate = make_sparse(nemo_model, passage(10.0))
    name = "nemotron-speech-streaming twin" if shape.n_layers > 2 else "tiny streaming twin"
    model = prepare_model(nemo_model, f"{name} (cache-aware; joint biased to blank: {rate:.1f} tokens/s)", plan)
    results = []
    for step_ms in steps_ms:
        settings = LiveSettings(streaming=StreamingChoice(step=step_ms / 1000))
        results.append(bench_model(f"{model.name}, {step_ms} ms steps", model, utterances, settings, arrivals))
    return results


def _ratios(result: dict, buffered: dict) -> dict:
    """The cache-aware run's medians over the buffered twin's (below 1: the cache-aware is faster)."""
    keys = ("compute_per_audio_second", "partial_lag_seconds", "stop_to_final_seconds_streamed",
            "stop_to_final_seconds_auto_final_pass")
    return {key: round(result[key]["median"] / buffered[key]["median"], 3)
            if buffered[key]["median"] and result[key]["median"] is not None else None for key in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny,twin,sparse-twin,streaming-twin",
                        help="tiny (speech fixture), twin (0.6B twin, random joint), "
                             "sparse-twin (0.6B twin whose joint emits about as many tokens as speech), "
                             "streaming-twin (nemotron-speech-streaming twin, cache-aware, sparse as well)")
    parser.add_argument("--steps", default="80,160,560,1120",
                        help="the cache-aware twin's steps to measure, in ms")
    parser.add_argument("--utterances", type=int, default=8)
    parser.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    parser.add_argument("--smoke", action="store_true",
                        help="smallest run: twins of the tiny test shape, for checking that the bench works")
    args = parser.parse_args()

    import torch

    arrivals = Arrivals()
    results = []
    plan = plan_device(args.device, probe_cuda())
    shape, twin_name = (TINY, "tiny twin") if args.smoke else (PARAKEET_TDT_V3, "parakeet-tdt-0.6b-v3 twin")
    if "tiny" in args.models.split(","):
        model = load_model(str(FIXTURE), plan.device)
        results.append(bench_model("speech fixture (2 M, trained)", model,
                                   held_out_speech(args.utterances), LiveSettings(), arrivals))
    utterances = [(text, speak(text)) for text in PASSAGE[: args.utterances]]
    for kind in ("twin", "sparse-twin"):
        if kind not in args.models.split(","):
            continue
        with tempfile.TemporaryDirectory() as folder:
            nemo_model = build_model(shape, Path(folder))
        if kind == "twin":
            make_responsive(nemo_model)
            label = f"{twin_name} (random weights: far more tokens than speech)"
        else:
            rate = make_sparse(nemo_model, passage(10.0))
            label = f"{twin_name} (joint biased to blank: {rate:.1f} tokens/s, as speech)"
        model = prepare_model(nemo_model, label, plan)
        results.append(bench_model(label, model, utterances, LiveSettings(), arrivals))
        del model, nemo_model
    if "streaming-twin" in args.models.split(","):
        results += bench_cache_aware(TINY_STREAMING if args.smoke else NEMOTRON_STREAMING, plan, utterances,
                                     [int(ms) for ms in args.steps.split(",")], arrivals)
    buffered = next((r for r in results if r["model"].startswith(twin_name) and "biased" in r["model"]), None)
    if buffered is not None:
        for result in results:
            if "cache_aware_step" in result["streaming"]:
                result["against_buffered_sparse_twin"] = _ratios(result, buffered)
    print(json.dumps({
        "benchmark": "streaming", "cpu": cpu(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if plan.device == "cuda" else None,
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
