"""onnx-asr as a side-by-side peer of our file path (bench/file_transcription.py --onnx-asr).

onnx-asr is the engine several Parakeet apps run on the CPU. It is never a dependency of the
project: the bench installs it on demand into an environment of its own (under
``~/.cache/parakeet-bench``), exports the same twin with NeMo's own ``export()`` into onnx-asr's
layout (``encoder-model.onnx``, ``decoder_joint-model.onnx``, ``vocab.txt``, ``config.json``) and
runs bench/onnx_asr_runner.py there on the same pieces, in a process of its own (so its memory
is its own) that stays up and runs a pass when told, so that its passes alternate with ours.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ONNX_ASR = "onnx-asr[cpu]==0.12.0"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "parakeet-bench"
RUNNER = Path(__file__).with_name("onnx_asr_runner.py")


class PeerUnavailable(Exception):
    """onnx-asr could not be installed or run here; the message says why."""


def environment() -> Path:
    """The Python of onnx-asr's own environment, made (about 10 s, from the package registry)
    when it is not there yet."""
    folder = CACHE / ("onnx-asr-env-" + ONNX_ASR.split("==")[1])
    python, complete = folder / "bin" / "python", folder / "installed"
    if complete.exists():
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True, capture_output=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", ONNX_ASR, "onnx"],
                       check=True, capture_output=True, text=True, timeout=900)
    except subprocess.CalledProcessError as exc:
        raise PeerUnavailable(f"installing {ONNX_ASR} failed: {(exc.stderr or '').strip()[-400:]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise PeerUnavailable(f"installing {ONNX_ASR} took over 15 minutes") from exc
    complete.touch()  # an install cut short is made again, not used
    return python


def export(nemo_model, folder: Path, quantize: bool = False) -> Path:
    """*nemo_model* (a TDT EncDecRNNTBPEModel on the CPU, NeMo's own modules) in onnx-asr's layout
    in *folder*; with *quantize*, also onnx-asr's ``int8`` files (onnxruntime's default dynamic
    quantization, as its published int8 models are made)."""
    folder.mkdir(parents=True, exist_ok=True)
    # NeMo's export swaps modules for export-friendly ones in place (slower in PyTorch) and its
    # models cannot be deep-copied: the model is saved and a process of its own restores and
    # exports it, so that neither the model nor this process's memory is touched.
    saved = folder / "twin.nemo"
    nemo_model.save_to(str(saved))
    script = ("import sys\nfrom parakeet_desktop.engine.model.loader import restore\n"
              "restore(sys.argv[1]).eval().export(sys.argv[2], check_trace=False)\n")
    try:
        subprocess.run([sys.executable, "-c", script, str(saved), str(folder / "model.onnx")], check=True,
                       capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    except subprocess.CalledProcessError as exc:
        raise PeerUnavailable(f"NeMo's export failed: {exc.stderr.strip()[-600:]}") from exc
    finally:
        saved.unlink(missing_ok=True)
    tokenizer = nemo_model.tokenizer
    vocab_size = tokenizer.vocab_size
    with open(folder / "vocab.txt", "w", encoding="utf-8") as f:
        for index in range(vocab_size):
            f.write(f"{tokenizer.ids_to_tokens([index])[0]} {index}\n")
        f.write(f"<blk> {vocab_size}\n")
    config = {
        "model_type": "nemo-conformer-tdt",
        "features_size": int(nemo_model.cfg.preprocessor.features),
        "subsampling_factor": int(nemo_model.encoder.subsampling_factor),
        "max_tokens_per_step": int(nemo_model.cfg.decoding.greedy.get("max_symbols", 10)),
    }
    (folder / "config.json").write_text(json.dumps(config))
    if quantize:
        script = ("import sys\nfrom onnxruntime.quantization import quantize_dynamic\n"
                  "for name in ('encoder-model', 'decoder_joint-model'):\n"
                  "    quantize_dynamic(f'{sys.argv[1]}/{name}.onnx', f'{sys.argv[1]}/{name}.int8.onnx',"
                  " use_external_data_format=name == 'encoder-model')\n")
        subprocess.run([str(environment()), "-c", script, str(folder)], check=True, capture_output=True)
    return folder


class Peer:
    """onnx-asr on *pieces* (16 kHz float32) in a process of its own, loaded and warmed at once;
    :meth:`one_pass` times one pass over the pieces, :meth:`finish` ends it with its tokens."""

    def __init__(self, model_dir: Path, pieces: list[np.ndarray], threads: int,
                 quantization: str | None = None) -> None:
        self._scratch = tempfile.TemporaryDirectory()
        archive = Path(self._scratch.name) / "pieces.npz"
        np.savez(archive, **{str(i): np.asarray(p, dtype=np.float32) for i, p in enumerate(pieces)})
        command = [str(environment()), str(RUNNER), str(model_dir), str(archive), "--threads", str(threads)]
        if quantization:
            command += ["--quantization", quantization]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True, env=env)
        self.ready = self._answer()
        self.passes: list[dict] = []

    def _answer(self) -> dict:
        line = self._process.stdout.readline()
        if not line:
            self._process.wait()
            error = self._process.stderr.read().strip()[-800:]
            self._scratch.cleanup()
            raise PeerUnavailable(f"onnx-asr's run failed: {error}")
        return json.loads(line)

    def one_pass(self) -> dict:
        self._process.stdin.write("pass\n")
        self._process.stdin.flush()
        self.passes.append(self._answer())
        return self.passes[-1]

    def finish(self) -> dict:
        self._process.stdin.write("done\n")
        self._process.stdin.flush()
        last = self._answer()
        self._process.wait()
        self._scratch.cleanup()
        return last
