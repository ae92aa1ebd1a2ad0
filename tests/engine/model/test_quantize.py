"""The ``cpu-int8`` device choice (engine/model/quantize.py): the encoder's linear layers in int8, its
convolutions, the decoder and the joint as they were; the committed speech model still writes
held-out speech, through files and the command line. bench/int8.py measures what it costs."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch

from parakeet_desktop.engine.model import quantize
from parakeet_desktop.engine.model.devices import CudaStatus, plan_device
from parakeet_desktop.engine.model.loader import load_model
from parakeet_desktop.engine.recognize.files import FileTranscriber
from support.cli import run_cli
from support.models import SPEECH_MODEL
from support.speech import held_out_utterances, silence, word_error_rate

pytestmark = pytest.mark.skipif(not quantize.available(), reason="PyTorch's int8 kernels for this CPU")


@pytest.fixture(scope="module")
def int8_model():
    return load_model(str(SPEECH_MODEL), "cpu-int8")


@pytest.fixture(scope="module")
def utterances():
    return held_out_utterances(40)


def test_the_choice_means_the_cpu_whatever_gpu_there_is():
    gpu = CudaStatus(True, name="RTX", total_memory=8 << 30, capability=(8, 9))
    plan = plan_device("cpu-int8", gpu)
    assert (plan.device, plan.dtype, plan.int8) == ("cpu", "float32", True)
    assert not plan_device("cpu", gpu).int8 and not plan_device("auto", gpu).int8
    with pytest.raises(ValueError, match="cpu-int8"):
        plan_device("int8", gpu)  # the message lists the choices


def test_only_the_encoders_linear_layers_are_quantized(int8_model, speech_model):
    assert int8_model.int8_encoder and not speech_model.int8_encoder
    encoder = int8_model.nemo.encoder
    assert not any(isinstance(m, torch.nn.Linear) for m in encoder.modules())
    convolutions = [m for m in encoder.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d))]
    assert convolutions and all(m.weight.dtype == torch.float32 for m in convolutions)
    # The decoder's and joint's weights are the float32 model's own (packed, not quantized).
    ours, theirs = int8_model.nemo.joint.state_dict(), speech_model.nemo.joint.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_held_out_speech_is_still_written(int8_model, speech_model, utterances):
    texts = [t for t, _ in utterances]
    quantized = word_error_rate(texts, [r.text for r in int8_model.recognize([a for _, a in utterances])])
    full = word_error_rate(texts, [r.text for r in speech_model.recognize([a for _, a in utterances])])
    assert quantized <= 0.10, f"int8 held-out WER {quantized:.1%}"
    assert quantized <= full + 0.02, f"int8 {quantized:.1%} against float32 {full:.1%}"


def test_a_file_of_several_utterances_keeps_its_words_and_times(int8_model, speech_model, utterances):
    gap = silence(1.0)
    audio = np.concatenate([part for _, a in utterances[:6] for part in (a, gap)])
    quantized = FileTranscriber(int8_model).transcribe_array(audio)
    full = FileTranscriber(speech_model).transcribe_array(audio)
    reference = " ".join(t for t, _ in utterances[:6])
    assert word_error_rate([reference], [quantized.text]) <= word_error_rate([reference], [full.text]) + 0.03
    starts = [w.start for w in quantized.words]
    assert starts == sorted(starts) and starts[0] >= 0 and quantized.words[-1].end <= len(audio) / 16000


def test_the_command_line_takes_the_choice(utterances, tmp_path):
    text, samples = utterances[0]
    audio = tmp_path / "memo.wav"
    soundfile.write(audio, samples, 16000)
    done = run_cli("transcribe", str(audio), "--model", str(SPEECH_MODEL), "--device", "cpu-int8",
                   "--output-dir", "-")
    assert done.returncode == 0, done.stderr
    assert word_error_rate([text], [done.stdout.strip()]) <= 0.35, done.stdout
    wrong = run_cli("transcribe", str(audio), "--device", "int8")
    assert wrong.returncode == 2 and "cpu-int8" in wrong.stderr and "Traceback" not in wrong.stderr
