"""Runs inside onnx-asr's own environment (made by bench/onnx_asr_peer.py), never the project's:
loads an export of a Parakeet TDT model in onnx-asr's layout, recognises the pieces of a ``.npz``
one at a time once untimed, then answers its driver line by line, so that its passes alternate
with the driver's own runs: ``pass`` runs one timed pass over the pieces (the features and
encoder timed apart from the decoding), ``done`` ends. Each answer is one JSON line on stdout.

    python onnx_asr_runner.py MODEL_DIR PIECES.npz --threads 2 [--quantization int8]

Only numpy, onnxruntime and onnx_asr are imported: this file is copied to nowhere and imports
nothing of the project.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    # VmHWM starts afresh at exec; getrusage's ru_maxrss would carry the forking parent's peak.
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


class _Clock:
    """Seconds spent in the wrapped calls since the last reset."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, call, consume: bool = False):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            result = call(*args, **kwargs)
            if consume:  # onnx-asr's decoding is a generator: its work happens when it is read
                result = list(result)
            self.seconds += time.perf_counter() - start
            return iter(result) if consume else result

        return timed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("pieces")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quantization", default=None)
    args = parser.parse_args()

    import numpy as np
    import onnx_asr
    import onnxruntime as rt

    pieces = [array for _, array in sorted(np.load(args.pieces).items(), key=lambda kv: int(kv[0]))]
    options = rt.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    started = time.perf_counter()
    model = onnx_asr.load_model("nemo-conformer-tdt", args.model_dir, quantization=args.quantization,
                                sess_options=options, providers=["CPUExecutionProvider"])
    load_seconds = time.perf_counter() - started
    rss_after_load = _rss()

    asr = model.asr
    encoder, decoding = _Clock(), _Clock()
    asr._preprocessor = encoder.wrap(asr._preprocessor)
    asr._encode = encoder.wrap(asr._encode)
    tokens: list[list[int]] = []
    frames: list[list[int]] = []
    decode = asr._decoding

    def decoding_kept(*a, **kw):
        for ids, steps, logprobs in decode(*a, **kw):
            tokens.append([int(i) for i in ids])
            frames.append([int(t) for t in steps])
            yield ids, steps, logprobs

    asr._decoding = decoding.wrap(decoding_kept, consume=True)

    def one_pass() -> tuple[float, list[str]]:
        tokens.clear()
        frames.clear()
        start = time.perf_counter()
        texts = [model.recognize(piece, sample_rate=16000) for piece in pieces]
        return time.perf_counter() - start, texts

    _, texts = one_pass()  # onnxruntime plans its kernels on the first run of each shape
    say({"ready": True, "onnxruntime": rt.__version__, "onnx_asr": getattr(onnx_asr, "__version__", None),
         "load_seconds": load_seconds, "rss_after_load": rss_after_load})
    for line in sys.stdin:
        if line.strip() == "pass":
            encoder.seconds = decoding.seconds = 0.0
            seconds, texts = one_pass()
            say({"seconds": seconds, "encoder_seconds": encoder.seconds, "decoding_seconds": decoding.seconds})
        elif line.strip() == "done":
            break
    say({"peak_rss": _peak_rss(), "texts": texts, "tokens": tokens, "frames": frames})


def say(answer: dict) -> None:
    print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
