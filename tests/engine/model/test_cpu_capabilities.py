"""The CPU's module swaps only where the running CPU has the kernels (engine/model/packed.py,
engine/model/lean_encoder.py, engine/model/quantize.py), whatever CPU runs the tests.

oneDNN's inner product exists for float32 everywhere, for bfloat16 only with AVX-512 BF16, AMX
or AVX-NE-CONVERT, for float16 only with AVX-512 FP16 or AVX-NE-CONVERT. A half-precision model
on a CPU without them once crashed in the middle of a file (the attention's head-by-head
products). Here the answer is forced both ways in this process, and made real in a child
process by ``ONEDNN_MAX_CPU_ISA=AVX2``, under which any newer x86 CPU answers as an AVX2-only one
does (the machine the crash was seen on)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from parakeet_desktop.engine.model import packed, quantize
from parakeet_desktop.engine.model.devices import DevicePlan
from parakeet_desktop.engine.model.loader import load_model, prepare_model, restore
from parakeet_desktop.engine.recognize.files import FileTranscriber
from support.models import SPEECH_MODEL
from support.speech import held_out_utterances, silence, word_error_rate

lean = pytest.importorskip("parakeet_desktop.engine.model.lean_encoder")

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def long_speech() -> np.ndarray:
    """Held-out speech long enough (over 6 s a piece) for the attention's head-by-head products."""
    return np.concatenate([part for _, speech in held_out_utterances(6) for part in (speech, silence(0.5))])


@pytest.fixture(scope="module")
def float32_text(long_speech) -> str:
    return FileTranscriber(load_model(str(SPEECH_MODEL), "cpu", warm_up=False)).transcribe_array(long_speech).text


def _bfloat16_model():
    return prepare_model(restore(str(SPEECH_MODEL)), "speech", DevicePlan("cpu", "bfloat16"), warm_up=False)


def _lean_attentions(model) -> list[bool]:
    return [isinstance(layer.self_attn, lean.LeanRelPositionAttention) for layer in model.nemo.encoder.layers]


@pytest.mark.parametrize("cpu_has_bfloat16", [True, False])
def test_a_bfloat16_model_on_the_cpu_writes_what_float32_writes(monkeypatch, long_speech, float32_text,
                                                                 cpu_has_bfloat16):
    """Forced "has it" on a CPU that has not, oneDNN refuses at run time and PyTorch's products
    take over; forced "has not", NeMo's attention is kept."""
    answer = packed.available
    monkeypatch.setattr(packed, "available", lambda dtype=torch.float32: cpu_has_bfloat16 if dtype == torch.bfloat16
                        else answer(dtype))
    model = _bfloat16_model()
    assert next(model.nemo.encoder.parameters()).dtype == torch.bfloat16
    assert _lean_attentions(model) == [cpu_has_bfloat16] * len(model.nemo.encoder.layers)
    text = FileTranscriber(model).transcribe_array(long_speech).text
    assert len(text.split()) > 30 and word_error_rate([float32_text], [text]) <= 0.1


def test_a_cpu_without_onednns_products_keeps_nemos_modules_and_hears_the_same(monkeypatch, long_speech,
                                                                                float32_text):
    monkeypatch.setattr(packed, "available", lambda dtype=torch.float32: False)
    model = load_model(str(SPEECH_MODEL), "cpu", warm_up=False)
    assert not isinstance(model.nemo.decoder.prediction["dec_rnn"].lstm, packed.PackedLSTM)
    assert not any(isinstance(m, packed.OneDnnLinear) for m in model.nemo.modules())
    assert not any(_lean_attentions(model))
    assert FileTranscriber(model).transcribe_array(long_speech).text == float32_text


def test_a_cpu_without_int8_products_runs_the_int8_choice_in_float32(monkeypatch, long_speech, float32_text):
    monkeypatch.setattr(quantize, "available", lambda: False)
    model = load_model(str(SPEECH_MODEL), "cpu-int8", warm_up=False)
    assert not model.int8_encoder
    assert any("cannot run int8" in notice for notice in model.notices)
    assert FileTranscriber(model).transcribe_array(long_speech).text == float32_text


def test_a_product_onednn_refuses_at_run_time_is_pytorchs_and_said_once(monkeypatch, caplog):
    """float16 has no oneDNN product on an AVX2 or AVX-512 BF16 CPU; forced "has it", the first
    product is refused and computed by PyTorch, and the next ones go to PyTorch at once; the log
    says it once."""
    monkeypatch.setitem(packed._answers, torch.float16, True)
    if packed._try_product(torch.float16):
        pytest.skip("this CPU has oneDNN's float16 products (AVX-512 FP16 or AVX-NE-CONVERT)")
    weight, x = torch.randn(8, 4).half(), torch.randn(3, 4).half()
    with caplog.at_level(logging.WARNING, logger=packed.__name__):
        first = packed.linear(x, weight)
        second = packed.linear(x, weight, post_op="swish")
    assert torch.equal(first, x @ weight.t())
    assert torch.allclose(second, torch.nn.functional.silu(x @ weight.t()))
    assert len([r for r in caplog.records if "refused" in r.getMessage()]) == 1
    assert packed.available(torch.float16) is False


def test_an_error_that_is_not_onednns_is_not_taken_for_a_refusal():
    with pytest.raises(RuntimeError, match="shapes"):
        packed.refused(torch.float32, RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert packed.available(torch.float32) == packed._try_product(torch.float32)


CHILD = """
import json, logging, sys, torch
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
import soundfile
from parakeet_desktop.engine.model import packed
from parakeet_desktop.engine.model import lean_encoder as lean
from parakeet_desktop.engine.model.devices import DevicePlan
from parakeet_desktop.engine.recognize.files import FileTranscriber
from parakeet_desktop.engine.model.loader import prepare_model, restore

audio, _ = soundfile.read(sys.argv[2], dtype="float32")
result = {"capability": torch.backends.cpu.get_cpu_capability(),
          "available": {name: packed.available(getattr(torch, name)) for name in ("float32", "bfloat16", "float16")}}
for dtype in ("bfloat16", "float16"):
    model = prepare_model(restore(sys.argv[1]), "speech", DevicePlan("cpu", dtype), warm_up=False)
    result[dtype] = {
        "lean_attentions": sum(isinstance(layer.self_attn, lean.LeanRelPositionAttention)
                               for layer in model.nemo.encoder.layers),
        "text": FileTranscriber(model).transcribe_array(audio).text}
print(json.dumps(result))
"""


def test_on_an_avx2_only_cpu_half_precision_models_transcribe(tmp_path, long_speech, float32_text):
    """The crash as it happened, on whatever CPU runs this: oneDNN capped at AVX2."""
    wav = tmp_path / "speech.wav"
    soundfile.write(wav, long_speech, 16000)
    # oneDNN's kernels and PyTorch's own both limited to AVX2, as on that machine.
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "PYTHONPATH": str(ROOT)}
    child = subprocess.run([sys.executable, "-c", CHILD, str(SPEECH_MODEL), str(wav)], capture_output=True,
                           text=True, timeout=600, env=env, cwd=ROOT)
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["capability"] in ("AVX2", "DEFAULT")  # not AVX512: the cap holds
    assert result["available"] == {"float32": True, "bfloat16": False, "float16": False}
    for dtype in ("bfloat16", "float16"):
        assert result[dtype]["lean_attentions"] == 0
        assert word_error_rate([float32_text], [result[dtype]["text"]]) <= 0.1, dtype
    assert "no bfloat16 inner product for this CPU" in child.stderr  # the reason, in the log once
    assert child.stderr.count("no bfloat16 inner product") == 1
