"""Benchmark: our file path against NeMo's ``transcribe()`` on the same model and audio.

Builds a random-weight twin of parakeet-tdt-0.6b-v3 (same layer sizes, so the compute is real),
speaks a passage with espeak-ng, and transcribes it through both paths in one run, alternating
them. Prints JSON: real-time factors (seconds of audio per second of compute), their ratio, and
peak memory of each path. On the CPU our path runs with the packed decoder modules
(engine/packed.py) and once more with NeMo's own modules ("ours_unpacked"), which NeMo's
``transcribe()`` also uses, and says whether the texts are identical.

    python bench/file_transcription.py [--seconds 60] [--repeats 3] [--device auto] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parakeet_desktop.engine.audio import SAMPLE_RATE  # noqa: E402
from parakeet_desktop.engine.devices import plan_device, probe_cuda  # noqa: E402
from parakeet_desktop.engine import packed  # noqa: E402
from parakeet_desktop.engine.files import FileTranscriber, plan_pieces  # noqa: E402
from parakeet_desktop.engine.loader import prepare_model  # noqa: E402
from tools.nemo_models import PARAKEET_TDT_V3, TINY, build_model, make_responsive, make_sparse, nemo_transcribe  # noqa: E402
from tools.speech import passage  # noqa: E402


class PeakRss:
    """Highest resident memory of this process while the block runs, sampled every 5 ms."""

    def __enter__(self):
        self.peak = self.start = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    def _watch(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _timed(run, cuda: bool):
    import torch

    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with PeakRss() as memory:
        start = time.perf_counter()
        text = run()
        if cuda:
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
    gpu_peak = torch.cuda.max_memory_allocated() if cuda else 0
    return elapsed, text, memory.peak - memory.start, memory.peak, gpu_peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    parser.add_argument("--tiny", action="store_true", help="use the tiny test model (quick check)")
    parser.add_argument("--twins", default="dense,sparse",
                        help="dense (random joint, far more tokens than speech), sparse (joint biased "
                             "to blank: about 3.5 tokens a second, as speech)")
    args = parser.parse_args()

    import torch

    audio = passage(args.seconds)
    plan = plan_device(args.device, probe_cuda())
    results = []
    for variant in args.twins.split(","):
        with tempfile.TemporaryDirectory() as folder:
            nemo_model = build_model(TINY if args.tiny else PARAKEET_TDT_V3, Path(folder))
        if variant == "sparse":
            rate = make_sparse(nemo_model, audio[: 10 * SAMPLE_RATE])
            label = f"joint biased to blank ({rate:.1f} tokens/s, as speech)"
        else:
            make_responsive(nemo_model)
            label = "random weights (far more tokens than speech)"
        model = prepare_model(nemo_model, "parakeet-tdt-0.6b-v3 twin", plan)
        modules = _decoder_modules(model.nemo)  # packed on the CPU, NeMo's own on a GPU
        unpacked = _originals.pop(id(model.nemo), modules)
        results.append({"twin": label, **compare(model, audio, args.repeats, modules, unpacked)})
        del model, nemo_model
    print(json.dumps({
        "benchmark": "file_transcription",
        "model": "tiny" if args.tiny else "parakeet-tdt-0.6b-v3 twin",
        "device": plan.device, "dtype": plan.dtype,
        "gpu": torch.cuda.get_device_name(0) if plan.device == "cuda" else None,
        "torch_threads": torch.get_num_threads(),
        "audio_seconds": round(len(audio) / SAMPLE_RATE, 2),
        "repeats": args.repeats,
        "results": results,
    }, indent=2))


_originals: dict[int, tuple] = {}  # a model's decoder modules before packing, by the model's id
_pack = packed.pack_decoder


def _keeping_originals(nemo_model) -> bool:
    _originals[id(nemo_model)] = _decoder_modules(nemo_model)
    return _pack(nemo_model)


packed.pack_decoder = _keeping_originals  # so that the bench can run either set


def _decoder_modules(nemo_model) -> tuple:
    return nemo_model.joint.joint_net[-1], nemo_model.decoder.prediction["dec_rnn"].lstm


def _use(nemo_model, modules: tuple) -> None:
    nemo_model.joint.joint_net[-1], nemo_model.decoder.prediction["dec_rnn"].lstm = modules


def compare(model, audio, repeats: int, modules: tuple, unpacked: tuple) -> dict:
    """Our file path (with the packed decoder modules on the CPU, then with NeMo's own), our
    modules on the whole audio as one piece, and NeMo's transcribe() (with NeMo's own modules),
    alternating, on the same model and audio."""
    import jiwer

    seconds = len(audio) / SAMPLE_RATE
    parameters = sum(p.numel() for p in model.nemo.parameters())
    cuda = model.device == "cuda"
    transcriber = FileTranscriber(model)
    # The same direct module calls with the whole passage as one piece, as transcribe() takes it.
    whole = FileTranscriber(model, max_piece_seconds=seconds + 1, batch_seconds=seconds + 1)

    def ours() -> str:
        _use(model.nemo, modules)
        return transcriber.transcribe_array(audio).text

    def ours_unpacked() -> str:
        _use(model.nemo, unpacked)
        return transcriber.transcribe_array(audio).text

    def ours_one_piece() -> str:
        _use(model.nemo, modules)
        return whole.transcribe_array(audio).text

    def nemos() -> str:
        _use(model.nemo, unpacked)
        return nemo_transcribe(model, audio, timestamps=True)[0].text

    paths = {"ours": ours, "ours_unpacked": ours_unpacked, "ours_one_piece": ours_one_piece, "nemo": nemos}
    for run in paths.values():  # warm every path once
        run()
    figures = {name: [] for name in paths}
    for _ in range(repeats):
        for name, run in paths.items():
            figures[name].append(_timed(run, cuda))

    def summary(rows):
        times = [r[0] for r in rows]
        return {
            "seconds_median": round(statistics.median(times), 3),
            "seconds_all": [round(t, 3) for t in times],
            "rtfx_median": round(seconds / statistics.median(times), 2),
            # The least disturbed run: on a shared machine, the best estimate of the path's cost.
            "rtfx_best": round(seconds / min(times), 2),
            "peak_rss_increase_mb": round(max(r[2] for r in rows) / 2**20, 1),
            "peak_rss_mb": round(max(r[3] for r in rows) / 2**20, 1),
            "peak_gpu_allocated_mb": round(max(r[4] for r in rows) / 2**20, 1),
        }

    ours_summary, nemo_summary = summary(figures["ours"]), summary(figures["nemo"])
    unpacked_summary = summary(figures["ours_unpacked"])
    one_piece_summary = summary(figures["ours_one_piece"])
    our_text, nemo_text = figures["ours"][-1][1], figures["nemo"][-1][1]
    return {
        "parameters_millions": round(parameters / 1e6, 1),
        "cuda_graphs": model.cuda_graphs,
        "pieces": len(plan_pieces(audio, transcriber.max_piece_seconds)),
        "tokens_per_second": round(len(nemo_transcribe(model, audio[: 10 * SAMPLE_RATE])[0].y_sequence) / 10, 2),
        "ours": ours_summary,
        "ours_unpacked": unpacked_summary,
        "packed_decoder": modules is not unpacked,
        "rtfx_ratio_packed_over_unpacked": round(ours_summary["rtfx_median"] / unpacked_summary["rtfx_median"], 3),
        "packed_text_identical": figures["ours"][-1][1] == figures["ours_unpacked"][-1][1],
        "ours_one_piece": one_piece_summary,
        "nemo_transcribe": nemo_summary,
        "rtfx_ratio_ours_over_nemo": round(ours_summary["rtfx_median"] / nemo_summary["rtfx_median"], 3),
        "rtfx_ratio_ours_over_nemo_best_runs": round(
            ours_summary["rtfx_best"] / nemo_summary["rtfx_best"], 3),
        "rtfx_ratio_one_piece_over_nemo": round(
            one_piece_summary["rtfx_median"] / nemo_summary["rtfx_median"], 3),
        "one_piece_text_identical_to_nemo": figures["ours_one_piece"][-1][1] == nemo_text,
        # With random weights, text cut at pauses says little about accuracy; a trained model's
        # text hardly changes at a pause.
        "split_text_word_difference_vs_nemo": round(jiwer.wer(nemo_text, our_text), 4) if nemo_text else None,
    }


if __name__ == "__main__":
    main()
