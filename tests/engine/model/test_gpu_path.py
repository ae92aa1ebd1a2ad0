"""The GPU path, checked on the CPU: number-format planning, half-precision encoders, surviving
out-of-memory errors and CUDA-graph failures, yielding a batch to dictation, and streamed word
times. Device properties are monkeypatched and faults injected where no GPU is at hand; half
types run for real on the CPU."""

from __future__ import annotations

import sys
import threading
import types

import numpy as np
import pytest
import torch

from parakeet_desktop.cli import doctor
from parakeet_desktop.engine.audio.decode import SAMPLE_RATE
from parakeet_desktop.engine.live.dictation import DictationSession, LiveSettings, Mode
from parakeet_desktop.engine.live.events import Final
from parakeet_desktop.engine.live.modes import FinalPass
from parakeet_desktop.engine.model import loader
from parakeet_desktop.engine.model.devices import DevicePlan, plan_device, probe_cuda
from parakeet_desktop.engine.model.loader import batch_seconds_for, prepare_model, restore, self_test_cuda_graphs
from parakeet_desktop.engine.model.speech import ModelError, ParakeetModel, RecognitionCancelled
from parakeet_desktop.engine.recognize.files import FileTranscriber
from parakeet_desktop.engine.recognize.streaming import (
    CPU_DEFAULT,
    GPU_DEFAULT,
    StreamingChoice,
    StreamingConfig,
    StreamingTranscriber,
    StreamTap,
)
from support.models import SPEECH_MODEL
from support.speech import held_out_utterances, silence, word_error_rate

TEST_STREAMING = StreamingConfig(chunk=0.48, left=10.0, right=2.4)


def fresh_speech_model(dtype: str = "float32") -> ParakeetModel:
    """A model of its own (tests here change its state), planned with *dtype* on the CPU."""
    return prepare_model(restore(str(SPEECH_MODEL)), "speech", DevicePlan("cpu", dtype))


@pytest.fixture(scope="module")
def sentences():
    return held_out_utterances(6)


@pytest.fixture(scope="module")
def long_recording(sentences):
    """Three sentences with pauses between them (about 10 s), and what was said."""
    parts = []
    for _, speech in sentences[:3]:
        parts += [silence(0.6), speech]
    parts.append(silence(0.6))
    return np.concatenate(parts), " ".join(text for text, _ in sentences[:3])


# --- 1. the number format follows the compute capability ---------------------------------------

@pytest.fixture
def fake_gpu(monkeypatch):
    """PyTorch reporting a usable CUDA GPU of a given compute capability; like torch 2.13, its
    is_bf16_supported() says True on every card (it counts emulation)."""

    def install(major: int, minor: int, name: str = "NVIDIA GeForce RTX 2060"):
        props = types.SimpleNamespace(name=name, total_memory=6 << 30, major=major, minor=minor)
        real_zeros = torch.zeros
        monkeypatch.setattr(torch.version, "cuda", "12.8")
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index=0: props)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
        monkeypatch.setattr(torch, "zeros", lambda *a, device=None, **k: real_zeros(*a, **k))

    return install


@pytest.mark.parametrize("capability, dtype", [
    ((7, 5), "float16"),   # Turing: RTX 20, GTX 16
    ((7, 0), "float16"),   # Volta
    ((6, 1), "float32"),   # Pascal: GTX 10
    ((8, 6), "bfloat16"),  # Ampere: RTX 30
    ((8, 9), "bfloat16"),  # Ada: RTX 40
    ((12, 0), "bfloat16"),  # Blackwell: RTX 50
])
def test_number_format_follows_compute_capability_not_emulated_bf16(fake_gpu, capability, dtype):
    fake_gpu(*capability)
    status = probe_cuda()
    assert status.usable and status.capability == capability
    plan = plan_device("auto", status)
    assert (plan.device, plan.dtype) == ("cuda", dtype)
    assert f"{capability[0]}.{capability[1]}" in plan.why


def test_doctor_says_what_number_format_was_chosen_and_why(fake_gpu):
    fake_gpu(7, 5)
    report = doctor._gpu()
    assert "compute capability 7.5" in report["GPU"]
    assert report["recognition runs on"].startswith("CUDA in float16")
    assert "no native bfloat16" in report["recognition runs on"]


# --- 2. the encoder is cast once; preprocessor, decoder and joint stay float32 -----------------

@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_plan_casts_the_encoder_once_and_keeps_the_rest_float32(dtype, sentences):
    reference = fresh_speech_model("float32")
    half = fresh_speech_model(dtype)
    assert {p.dtype for p in half.nemo.encoder.parameters()} == {getattr(torch, dtype)}
    for module in (half.nemo.preprocessor, half.nemo.decoder, half.nemo.joint):
        assert {t.dtype for t in [*module.parameters(), *module.buffers()] if t.is_floating_point()} <= {torch.float32}

    # No autocast: autocast inside inference_mode re-casts every weight on every call.
    casts = []
    real_autocast = torch.autocast
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch, "autocast", lambda *a, **k: casts.append(k) or real_autocast(*a, **k))
        encoded, _ = half.encode(sentences[0][1])
    assert encoded.dtype == torch.float32, "the decoder and joint get float32"
    assert not [k for k in casts if k.get("enabled", True)]

    audio = [speech for _, speech in sentences]
    texts = [r.text for r in half.recognize(audio)]
    assert word_error_rate([r.text for r in reference.recognize(audio)], texts) <= 0.1


def test_float16_overflow_puts_the_encoder_back_in_float32(sentences):
    model = fresh_speech_model("float16")
    expected = fresh_speech_model("float32").recognize([sentences[0][1]])[0].text
    notices = []
    model.on_notice = notices.append
    overflow = model.nemo.encoder.register_forward_hook(
        lambda _m, _i, output: (torch.full_like(output[0], float("inf")), output[1]))
    first_call = model.nemo.encoder.register_forward_hook(lambda *_: overflow.remove())
    try:
        text = model.recognize([sentences[0][1]])[0].text
    finally:
        first_call.remove()
    assert text == expected
    assert model.dtype == "float32" and next(model.nemo.encoder.parameters()).dtype == torch.float32
    assert any("float16" in n and "float32" in n for n in notices)


# --- 3. out of memory: retried outside the handler, split before the GPU is given up ----------

def test_out_of_memory_is_retried_outside_the_handler_and_splits_the_batch(speech_model, sentences):
    audio = [speech for _, speech in sentences[:4]]
    expected = [r.text for r in speech_model.recognize(audio)]
    real = speech_model._recognize
    calls = []

    def fits_two(batch, cancel, *rest):
        # While an exception is being handled, its traceback keeps the failed attempt's tensors.
        calls.append((len(batch), sys.exc_info()[0]))
        if len(batch) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(batch, cancel, *rest)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(speech_model, "_recognize", fits_two)
        assert [r.text for r in speech_model.recognize(audio)] == expected
    assert [size for size, _ in calls] == [4, 2, 2]
    assert all(handling is None for _, handling in calls[1:]), "a retry ran inside the except block"


def test_cublas_workspace_failure_counts_as_out_of_memory(speech_model, sentences):
    audio = [speech for _, speech in sentences[:2]]
    expected = [r.text for r in speech_model.recognize(audio)]
    real = speech_model._recognize

    def no_workspace(batch, cancel, *rest):
        if len(batch) > 1:
            raise RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`")
        return real(batch, cancel, *rest)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(speech_model, "_recognize", no_workspace)
        assert [r.text for r in speech_model.recognize(audio)] == expected


def test_other_errors_are_not_mistaken_for_out_of_memory(speech_model, sentences):
    def broken(batch, cancel, *rest):
        raise ValueError("something else")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(speech_model, "_recognize", broken)
        with pytest.raises(ValueError):
            speech_model.recognize([sentences[0][1]])


def test_a_piece_too_long_for_memory_is_cut_at_a_pause_before_the_gpu_is_given_up(long_recording):
    model = fresh_speech_model()
    audio, said = long_recording
    whole = model.recognize([audio])[0]
    real = model._recognize
    lengths = []

    def short_pieces_only(batch, cancel, *rest):
        lengths.append(len(batch[0]) / SAMPLE_RATE)
        if len(batch[0]) > 6 * SAMPLE_RATE:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return real(batch, cancel, *rest)

    model.move_to_cpu = lambda why: pytest.fail(f"gave up the device: {why}")
    model._recognize = short_pieces_only
    split = model.recognize([audio])[0]
    assert lengths[0] > 6 and all(length <= 6 for length in lengths[1:]) and len(lengths) >= 3
    assert word_error_rate([said], [split.text]) <= word_error_rate([said], [whole.text]) + 0.1
    duration = len(audio) / SAMPLE_RATE
    starts = [w.start for w in split.words]
    assert starts == sorted(starts) and all(0 <= w.start <= w.end <= duration for w in split.words)
    assert " ".join(w.text for w in split.words) == split.text


def test_out_of_memory_on_the_cpu_is_a_clear_error(speech_model):
    def no_memory(batch, cancel, *rest):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(speech_model, "_recognize", no_memory)
        with pytest.raises(ModelError, match="Not enough memory"):
            speech_model.recognize([np.zeros(SAMPLE_RATE, np.float32)])


def test_full_pass_of_a_long_utterance_is_cut_into_pieces(long_recording):
    model = fresh_speech_model()
    audio, said = long_recording
    seen = []
    real = FileTranscriber._run

    def recording_lengths(self, batch, *rest):  # the pieces the full pass recognises
        seen.extend(len(piece) / SAMPLE_RATE for _, _, piece in batch)
        return real(self, batch, *rest)

    events = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FileTranscriber, "_run", recording_lengths)
        patch.setattr(ParakeetModel, "max_piece_seconds", property(lambda self: 4.0))
        session = DictationSession(model, LiveSettings(streaming=TEST_STREAMING, final_pass=FinalPass.ALWAYS),
                                   events.append)
        session.start(Mode.PUSH_TO_TALK)
        session.feed(audio, decode=False)
        session.stop()
    final = next(e for e in events if isinstance(e, Final))
    assert final.full_context and seen and max(seen) <= 4.0
    assert word_error_rate([said], [final.text]) <= 0.25


def test_file_batches_are_sized_from_the_gpu_memory(speech_model):
    # A 4 GB card with 1.5 GB free after the model, a 24 GB card with 20 GB free; 40 MB per
    # second of audio measured at the warm-up.
    small, large = batch_seconds_for(1.5 * 2**30, 40 * 2**20, 60), batch_seconds_for(20 * 2**30, 40 * 2**20, 60)
    assert small == 60.0  # never less than one piece
    assert 60 < large <= loader.MAX_BATCH_SECONDS and large % 60 == 0
    assert batch_seconds_for(1e15, 1, 60) == loader.MAX_BATCH_SECONDS
    before = speech_model.batch_seconds
    try:
        speech_model.batch_seconds = 240.0
        assert FileTranscriber(speech_model).batch_seconds == 240.0
    finally:
        speech_model.batch_seconds = before


def test_streaming_preset_follows_the_model_to_the_cpu(monkeypatch):
    model = fresh_speech_model()
    notices = []
    model.on_notice = notices.append
    monkeypatch.setattr(model, "device", "cuda")
    session = DictationSession(model, LiveSettings(), lambda event: None)
    assert session.streaming_config == GPU_DEFAULT
    model.move_to_cpu("The GPU ran out of memory")
    assert model.device == "cpu" and notices and "CPU" in notices[-1]
    session.start(Mode.PUSH_TO_TALK)
    assert session.streaming_config == CPU_DEFAULT
    # A latency choice holds on both devices; sizes given outright hold everywhere.
    assert StreamingChoice(latency="fast").for_device("cuda").chunk == 0.48
    assert StreamingChoice(latency="fast").for_device("cpu").left == CPU_DEFAULT.left
    assert StreamingChoice(left=2.0).for_device("cuda") == StreamingConfig(0.8, 2.0, 0.8)
    assert TEST_STREAMING.for_device("cpu") == TEST_STREAMING


# --- 4. CUDA graphs: kept from the self-test, stepped down at run time ------------------------

def graphs_allowed_model() -> ParakeetModel:
    """A speech model whose decoder has CUDA graphs allowed, as on a GPU (on CPU tensors NeMo
    still decodes without them, so the faults are injected)."""
    model = fresh_speech_model()
    loader._set_decoding(model.nemo, use_cuda_graphs=True)
    return model


def test_decoding_failure_in_graphs_steps_down_and_the_words_still_come(sentences):
    model = graphs_allowed_model()
    computer = model.nemo.decoding.decoding.decoding_computer
    computer.cuda_graphs_mode = computer.CudaGraphsMode.FULL_GRAPH
    model.cuda_graphs = True
    expected = fresh_speech_model().recognize([sentences[0][1]])[0].text
    notices = []
    model.on_notice = notices.append
    real = model.nemo.decoding.rnnt_decoder_predictions_tensor
    failures = []

    def graphs_break(**kwargs):
        if computer.cuda_graphs_mode is not None:
            failures.append(computer.cuda_graphs_mode)
            raise RuntimeError("CUDA error: operation not permitted when stream is capturing")
        return real(**kwargs)

    model.nemo.decoding.rnnt_decoder_predictions_tensor = graphs_break
    assert model.recognize([sentences[0][1]])[0].text == expected
    modes = computer.CudaGraphsMode
    assert failures == [modes.FULL_GRAPH, modes.NO_WHILE_LOOPS]
    assert not model.cuda_graphs and computer.cuda_graphs_mode is None
    assert "partial CUDA graphs" in notices[0] and "is off" in notices[1]


def test_streaming_step_survives_a_graph_failure(sentences):
    model = graphs_allowed_model()
    model.cuda_graphs = True
    computer = model.nemo.decoding.decoding.decoding_computer
    real_call = type(computer).__call__
    broken = {"left": 1}

    def fails_once(self, *args, **kwargs):
        if broken["left"]:
            broken["left"] -= 1
            raise RuntimeError("CUDA error: an illegal memory access was encountered in graph replay")
        return real_call(self, *args, **kwargs)

    audio = np.concatenate([silence(0.3), sentences[1][1], silence(0.3)])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(computer), "__call__", fails_once)
        streamed = StreamingTranscriber(model, TEST_STREAMING)
        for start in range(0, len(audio), 4800):
            streamed.accept(audio[start : start + 4800])
        result = streamed.finish()
    reference = StreamingTranscriber(fresh_speech_model(), TEST_STREAMING)
    reference.accept(audio)
    assert broken["left"] == 0 and not model.cuda_graphs
    assert result.text == reference.finish().text


class FakeMemory:
    def start(self):
        pass

    def peak_since_start(self):
        return 30 * 2**20 * 60

    def room(self):
        return 12 * 2**30


def test_gpu_warm_up_reaches_the_shapes_of_real_use_and_keeps_its_graphs():
    model = graphs_allowed_model()
    decoding = model.nemo.decoding.decoding
    computer = decoding.decoding_computer
    batches, carried, resets = [], [], []
    real_encode, real_call = model.encode_batch, type(computer).__call__
    real_reset = type(computer).reset_cuda_graphs_state

    def encode(pieces, cancel=None, *rest):
        batches.append([round(len(p) / SAMPLE_RATE) for p in pieces])
        return real_encode(pieces, cancel, *rest)

    def call(self, *args, prev_batched_state=None, **kwargs):
        carried.append(prev_batched_state is not None)
        return real_call(self, *args, prev_batched_state=prev_batched_state, **kwargs)

    model.encode_batch = encode
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(computer), "__call__", call)
        patch.setattr(type(computer), "reset_cuda_graphs_state",
                      lambda self: resets.append(self.cuda_graphs_mode) or real_reset(self))
        loader._warm_up_gpu(model, FakeMemory())
    assert [8, 5] in batches, "a batch of two"
    assert [model.max_piece_seconds] in batches, "a piece as long as file pieces get"
    assert any(carried), "a streaming step that carries the decoder state"
    assert model.cuda_graphs and computer.cuda_graphs_mode is not None, "graphs stay on"
    # Graphs are set up once for the self-test and never reset (thrown away) after it.
    assert resets[-1] is not None and resets.count(None) <= 1
    piece = model.max_piece_seconds
    assert model.batch_seconds == batch_seconds_for(12 * 2**30, FakeMemory().peak_since_start() / piece, piece)


def test_self_test_turns_graphs_off_when_they_give_other_text():
    model = graphs_allowed_model()
    computer = model.nemo.decoding.decoding.decoding_computer
    notices = []
    model.on_notice = notices.append

    def run():
        text = "with graphs" if computer.cuda_graphs_mode is not None else "without"
        return [types.SimpleNamespace(text=text)]

    self_test_cuda_graphs(model, run)
    assert not model.cuda_graphs and computer.cuda_graphs_mode is None
    assert "different text" in notices[0]


# --- 5. a file batch gives way to dictation on a GPU too --------------------------------------

class FakeGpuQueue:
    """Stands in for the GPU's queue: the CPU queues layers far ahead of a GPU, so a cancel is
    seen only by a hook that waits for the GPU. Here the GPU 'works' during each wait, and the
    user presses the hotkey during the first one."""

    def __init__(self, cancel: threading.Event) -> None:
        self.cancel = cancel
        self.waits = 0

    def mark_and_wait(self) -> None:
        self.waits += 1
        if self.waits == 2:
            self.cancel.set()


def test_cancel_check_waits_for_the_gpu_between_layer_groups(sentences):
    model = fresh_speech_model()
    layers = len(model.nemo.encoder.layers)
    model.sync_every_layers = 2
    cancel = threading.Event()
    queue = FakeGpuQueue(cancel)
    model.queue_bound = lambda: queue
    ran = []
    hooks = [layer.register_forward_hook(lambda m, i, o, n=n: ran.append(n))
             for n, layer in enumerate(model.nemo.encoder.layers)]
    try:
        with pytest.raises(RecognitionCancelled):
            model.recognize([sentences[0][1]], cancel)
    finally:
        for hook in hooks:
            hook.remove()
    assert layers >= 4 and queue.waits == 2
    assert ran == [0, 1], "the layers after the wait that saw the cancel never ran"
    cancel.clear()
    assert model.recognize([sentences[0][1]], cancel)[0].text  # the hooks are gone again


# --- 6. streamed word times are counted once -----------------------------------------------

def test_streamed_word_times_stay_inside_the_audio_and_match_offline(speech_model, sentences):
    frame = speech_model.frame_seconds
    compared = 0
    for _, speech in sentences:
        audio = np.concatenate([silence(0.3), speech, silence(0.3)])
        streamed = StreamingTranscriber(speech_model, TEST_STREAMING)
        for start in range(0, len(audio), 3840):
            streamed.accept(audio[start : start + 3840])
        result = streamed.finish()
        assert streamed.steps > 3
        offline = speech_model.recognize([audio])[0]
        duration = len(audio) / SAMPLE_RATE
        assert result.words and all(0 <= w.start <= w.end <= duration for w in result.words)
        assert result.words[-1].start < duration - 0.2, "word times pushed past the end"
        if [w.text for w in result.words] == [w.text for w in offline.words]:
            compared += 1
            for ours, theirs in zip(result.words, offline.words):
                assert abs(ours.start - theirs.start) <= 2 * frame + 1e-6, (ours, theirs)
    assert compared >= len(sentences) // 2


def test_stream_tap_sees_every_store_and_step(speech_model, sentences):
    stored, stepped = [], []
    streamed = StreamingTranscriber(speech_model, TEST_STREAMING,
                                    tap=StreamTap(stored=stored.append, stepped=lambda end, last: stepped.append(last)))
    audio = sentences[0][1]
    for start in range(0, len(audio), 3840):
        streamed.accept(audio[start : start + 3840])
    streamed.finish()
    assert stored[-1] == len(audio) and stored == sorted(stored)
    assert len(stepped) == streamed.steps and stepped[-1] is True and not any(stepped[:-1])
