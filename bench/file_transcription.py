"""Benchmark: our file path against NeMo's ``transcribe()`` on the same model and audio.

Builds a random-weight twin of parakeet-tdt-0.6b-v3 (same layer sizes, so the compute is real),
speaks a passage with espeak-ng, and transcribes it through both paths in one run, alternating
them. Prints JSON: real-time factors (seconds of audio per second of compute), their ratio, and
peak memory of each path. On the CPU our path runs with oneDNN's products (engine/model/packed.py: the
encoder's linear layers, the joint's output layer, the prediction LSTM) and once more with
NeMo's own modules ("ours_plain"), which NeMo's ``transcribe()`` also uses, and says whether the
texts are identical.

On the CPU, onnx-asr runs too, as a peer (bench/onnx_asr_peer.py: installed on demand into an
environment of its own, the same twin exported with NeMo's ``export()``), on the same pieces one
at a time, in a process of its own. For ours and onnx-asr the figures split recognition time into
the encoder (features included) and the decoding, give the resident memory after loading and
at its peak, and say whether the tokens (and their frames) are NeMo's own for the same pieces.

    python bench/file_transcription.py [--seconds 60] [--repeats 3] [--device auto] [--tiny]
                                       [--twins sparse] [--paths nemo] [--no-onnx-asr] [--onnx-asr-int8]
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import onnx_asr_peer  # noqa: E402  (bench/, next to this file)

from parakeet_desktop.engine.audio.decode import SAMPLE_RATE  # noqa: E402
from parakeet_desktop.engine.model import packed  # noqa: E402
from parakeet_desktop.engine.model.devices import plan_device, probe_cuda  # noqa: E402
from parakeet_desktop.engine.model.loader import prepare_model  # noqa: E402
from parakeet_desktop.engine.recognize.files import FileTranscriber  # noqa: E402
from tools.figures import cpu  # noqa: E402
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
    parser.add_argument("--paths", default="ours_plain,ours_one_piece,nemo",
                        help="besides ours, which of ours_plain, ours_one_piece and nemo (NeMo's "
                             "transcribe() of the whole audio) to time; none: ''")
    parser.add_argument("--no-onnx-asr", dest="onnx_asr", action="store_false",
                        help="leave out the onnx-asr peer (it runs on the CPU only)")
    parser.add_argument("--onnx-asr-int8", action="store_true",
                        help="also run onnx-asr on its default dynamic int8 quantization of the export")
    args = parser.parse_args()

    import torch

    audio = passage(args.seconds)
    plan = plan_device(args.device, probe_cuda())
    results = []
    for variant in args.twins.split(","):
        # The folder holds the twin's tokenizer, which saving it (for the peer's export) reads.
        with tempfile.TemporaryDirectory() as folder:
            results.append(_one_twin(args, plan, audio, variant, Path(folder)))
    print(json.dumps({
        "benchmark": "file_transcription", "cpu": cpu(),
        "model": "tiny" if args.tiny else "parakeet-tdt-0.6b-v3 twin",
        "device": plan.device, "dtype": plan.dtype,
        "gpu": torch.cuda.get_device_name(0) if plan.device == "cuda" else None,
        "torch_threads": torch.get_num_threads(),
        "audio_seconds": round(len(audio) / SAMPLE_RATE, 2),
        "repeats": args.repeats,
        "results": results,
    }, indent=2))


def _one_twin(args, plan, audio: np.ndarray, variant: str, folder: Path) -> dict:
    nemo_model = build_model(TINY if args.tiny else PARAKEET_TDT_V3, folder / "twin")
    if variant == "sparse":
        rate = make_sparse(nemo_model, audio[: 10 * SAMPLE_RATE])
        label = f"joint biased to blank ({rate:.1f} tokens/s, as speech)"
    else:
        make_responsive(nemo_model)
        label = "random weights (far more tokens than speech)"
    peers = {}
    if args.onnx_asr and plan.device == "cpu":
        peers = _onnx_asr_peers(nemo_model, folder / "onnx", args.onnx_asr_int8)
    model = prepare_model(nemo_model, "parakeet-tdt-0.6b-v3 twin", plan)
    rss_after_load = PeakRss._rss()
    plain = _originals.pop(id(model.nemo), None)
    modules = _modules(model.nemo, list(plain)) if plain else {}  # oneDNN's on the CPU
    plain = plain or modules
    result = compare(model, audio, args.repeats, modules, plain, tuple(args.paths.split(",")), peers)
    result["ours"]["rss_after_load_mb"] = round(rss_after_load / 2**20, 1)
    return {"twin": label, **result}


_originals: dict[int, dict] = {}  # a model's modules before oneDNN's, by the model's id
_pack = packed.pack_decoder


def _keeping_originals(nemo_model) -> bool:
    # lean_encoder.for_the_cpu runs pack_decoder first: every module it swaps or changes after is still NeMo's
    _originals[id(nemo_model)] = _modules(nemo_model, _swappable(nemo_model))
    return _pack(nemo_model)


packed.pack_decoder = _keeping_originals  # so that the bench can run either set


def _swappable(nemo_model) -> list[tuple]:
    """(parent, attribute) of each module engine/model/packed.py may swap, and of each class and
    activation engine/model/lean_encoder.py may change (a module's ``__class__`` is swapped back as
    an attribute)."""
    import torch

    rnn = nemo_model.decoder.prediction["dec_rnn"]
    places = [(nemo_model.joint.joint_net, str(len(nemo_model.joint.joint_net) - 1)), (rnn, "lstm")]
    for parent in nemo_model.encoder.modules():
        places += [(parent, name) for name, child in parent.named_children()
                   if type(child) is torch.nn.Linear or name == "activation"]
    places.append((nemo_model.encoder.pre_encode.conv, "__class__"))
    places += [(layer.self_attn, "__class__") for layer in nemo_model.encoder.layers]
    return places


def _modules(nemo_model, places: list[tuple]) -> dict:
    return {place: getattr(*place) for place in places}


def _use(nemo_model, modules: dict) -> None:
    for (parent, name), module in modules.items():
        setattr(parent, name, module)


class _Split:
    """Our path's seconds in the encoder (features included) and in the decoding, and the tokens
    it decoded for each piece, taken by wrapping the model's ``encode_batch``, ``decode_encoded``
    and ``decode``. On the CPU pieces of several encoder batches are decoded together, in the
    order they were encoded."""

    def __init__(self, model) -> None:
        self.encoder = self.decoding = 0.0
        self.decoded: dict[bytes, tuple[list[int], list[int]]] = {}  # piece's bytes: tokens, frames
        self.pieces: dict[bytes, np.ndarray] = {}
        self._encoded: list[np.ndarray] = []  # encoded, not yet decoded
        self._rows: list[np.ndarray] = []  # the pieces of the decoding under way
        encode, decode_encoded, decode = model.encode_batch, model.decode_encoded, model.decode
        cuda = model.device == "cuda"

        def settled() -> float:
            if cuda:
                import torch

                torch.cuda.synchronize()
            return time.perf_counter()

        def encode_batch(pieces, *args, **kwargs):
            start = settled()
            out = encode(pieces, *args, **kwargs)
            self.encoder += settled() - start
            self._encoded += [np.asarray(p, dtype=np.float32) for p in pieces]
            return out

        def timed_decode_encoded(encoded, *args, **kwargs):
            self._rows, self._encoded = self._encoded[: encoded.shape[0]], self._encoded[encoded.shape[0]:]
            start = settled()
            out = decode_encoded(encoded, *args, **kwargs)
            self.decoding += settled() - start
            return out

        def kept_decode(run):
            hypotheses = decode(run)
            for piece, hypothesis in zip(self._rows, hypotheses[0] if isinstance(hypotheses, tuple) else hypotheses):
                self.pieces[piece.tobytes()] = piece
                self.decoded[piece.tobytes()] = tokens_and_frames(hypothesis)
            return hypotheses

        model.encode_batch, model.decode_encoded, model.decode = encode_batch, timed_decode_encoded, kept_decode

    def reset(self) -> None:
        self.encoder = self.decoding = 0.0


def tokens_and_frames(hypothesis) -> tuple[list[int], list[int]]:
    """A NeMo hypothesis's token ids and the encoder frame of each."""
    frames = hypothesis.timestamp
    if isinstance(frames, dict):
        frames = frames.get("timestep", [])
    return [int(t) for t in _as_list(hypothesis.y_sequence)], [int(f) for f in _as_list(frames)]


def _as_list(values) -> list:
    return values.tolist() if hasattr(values, "tolist") else list(values)


def compare(model, audio, repeats: int, modules: dict, plain: dict,
            chosen: tuple[str, ...] = ("ours_plain", "ours_one_piece", "nemo"), peers: dict | None = None) -> dict:
    """Our file path (with oneDNN's products on the CPU, then with NeMo's own modules), our
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

    def ours_plain() -> str:
        _use(model.nemo, plain)
        return transcriber.transcribe_array(audio).text

    def ours_one_piece() -> str:
        _use(model.nemo, modules)
        return whole.transcribe_array(audio).text

    def nemos() -> str:
        _use(model.nemo, plain)
        return nemo_transcribe(model, audio, timestamps=True)[0].text

    every = {"ours": ours, "ours_plain": ours_plain, "ours_one_piece": ours_one_piece, "nemo": nemos}
    paths = {name: run for name, run in every.items() if name == "ours" or name in chosen}
    for run in paths.values():  # warm every path once
        run()
    split = _Split(model)
    ours()
    pieces, our_tokens = list(split.pieces.values()), dict(split.decoded)
    running = _start_peers(peers or {}, pieces)  # their passes alternate with ours
    figures = {name: [] for name in paths}
    splits = []
    for _ in range(repeats):
        for name, run in paths.items():
            split.reset()
            figures[name].append(_timed(run, cuda))
            if name == "ours":
                splits.append((split.encoder, split.decoding))
        for peer in running.values():
            if not isinstance(peer, str):
                # Idle thread pools spin for a while (OpenMP's, onnxruntime's): each side starts
                # once the other's have gone to sleep.
                time.sleep(0.5)
                peer.one_pass()
                time.sleep(0.5)
    del model.encode_batch, model.decode_encoded, model.decode  # the class's methods again
    # NeMo's own tokens for the same pieces, one at a time: the reference for ours and the peers.
    _use(model.nemo, plain)
    reference = [tokens_and_frames(h) for h in nemo_transcribe(model, pieces, timestamps=True)]

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

    ours_summary = summary(figures["ours"])
    ours_summary["encoder_seconds_median"] = round(statistics.median(e for e, _ in splits), 3)
    ours_summary["decoding_seconds_median"] = round(statistics.median(d for _, d in splits), 3)
    ours_summary["tokens_identical_to_nemo"] = [our_tokens[p.tobytes()] for p in pieces] == reference
    result = {
        "parameters_millions": round(parameters / 1e6, 1),
        "cuda_graphs": model.cuda_graphs,
        "pieces": len(pieces),
        "tokens_per_second": round(len(nemo_transcribe(model, audio[: 10 * SAMPLE_RATE])[0].y_sequence) / 10, 2),
        "ours": ours_summary,
        "onednn_products": modules is not plain,
    }
    result.update(_peer_figures(running, reference, seconds, ours_summary))
    our_text = figures["ours"][-1][1]
    if "ours_plain" in figures:
        plain_summary = summary(figures["ours_plain"])
        result.update({
            "ours_plain": plain_summary,
            "rtfx_ratio_onednn_over_plain": round(ours_summary["rtfx_median"] / plain_summary["rtfx_median"], 3),
            "onednn_text_identical_to_plain": our_text == figures["ours_plain"][-1][1],
        })
    if "nemo" in figures:
        nemo_summary, nemo_text = summary(figures["nemo"]), figures["nemo"][-1][1]
        result.update({
            "nemo_transcribe": nemo_summary,
            "rtfx_ratio_ours_over_nemo": round(ours_summary["rtfx_median"] / nemo_summary["rtfx_median"], 3),
            "rtfx_ratio_ours_over_nemo_best_runs": round(ours_summary["rtfx_best"] / nemo_summary["rtfx_best"], 3),
            # With random weights, text cut at pauses says little about accuracy; a trained
            # model's text hardly changes at a pause.
            "split_text_word_difference_vs_nemo": round(jiwer.wer(nemo_text, our_text), 4) if nemo_text else None,
        })
        if "ours_one_piece" in figures:
            one_piece_summary = summary(figures["ours_one_piece"])
            result.update({
                "ours_one_piece": one_piece_summary,
                "rtfx_ratio_one_piece_over_nemo": round(
                    one_piece_summary["rtfx_median"] / nemo_summary["rtfx_median"], 3),
                "one_piece_text_identical_to_nemo": figures["ours_one_piece"][-1][1] == nemo_text,
            })
    return result


def _onnx_asr_peers(nemo_model, folder: Path, int8: bool) -> dict:
    """The twin exported for onnx-asr (before our loader packs its decoder): the peers to run,
    by name, or the reason there are none."""
    try:
        onnx_asr_peer.environment()
        onnx_asr_peer.export(nemo_model, folder, quantize=int8)
    except (onnx_asr_peer.PeerUnavailable, OSError, RuntimeError) as exc:
        return {"onnx_asr": str(exc)}
    peers = {"onnx_asr": (folder, None)}
    if int8:
        peers["onnx_asr_int8"] = (folder, "int8")
    return peers


def _start_peers(peers: dict, pieces: list[np.ndarray]) -> dict:
    """The peers started on *pieces* (loaded and warmed), by name; a reason for each that cannot."""
    import torch

    started = {}
    for name, peer in peers.items():
        try:
            started[name] = peer if isinstance(peer, str) else onnx_asr_peer.Peer(
                peer[0], pieces, torch.get_num_threads(), peer[1])
        except onnx_asr_peer.PeerUnavailable as exc:
            started[name] = str(exc)
    return started


def _peer_figures(peers: dict, reference: list, seconds: float, ours: dict) -> dict:
    figures = {}
    for name, peer in peers.items():
        if isinstance(peer, str):
            figures[name] = {"unavailable": peer}
            continue
        last, passes = peer.finish(), peer.passes
        times = [p["seconds"] for p in passes]
        figures[name] = {
            "versions": {"onnx_asr": peer.ready["onnx_asr"], "onnxruntime": peer.ready["onnxruntime"]},
            "seconds_median": round(statistics.median(times), 3),
            "seconds_all": [round(t, 3) for t in times],
            "rtfx_median": round(seconds / statistics.median(times), 2),
            "rtfx_best": round(seconds / min(times), 2),
            "encoder_seconds_median": round(statistics.median(p["encoder_seconds"] for p in passes), 3),
            "decoding_seconds_median": round(statistics.median(p["decoding_seconds"] for p in passes), 3),
            "load_seconds": round(peer.ready["load_seconds"], 2),
            "rss_after_load_mb": round(peer.ready["rss_after_load"] / 2**20, 1),
            "peak_rss_mb": round(last["peak_rss"] / 2**20, 1),
            "tokens_identical_to_nemo": [list(pair) for pair in zip(last["tokens"], last["frames"])]
                                        == [list(pair) for pair in reference],
        }
        figures[f"time_ratio_ours_over_{name}"] = round(ours["seconds_median"] / figures[name]["seconds_median"], 3)
        figures[f"time_ratio_ours_over_{name}_best_runs"] = round(
            min(ours["seconds_all"]) / min(figures[name]["seconds_all"]), 3)
    return figures


if __name__ == "__main__":
    main()
