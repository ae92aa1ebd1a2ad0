"""The speech gate (real webrtcvad on espeak-ng speech) and the microphone plumbing (the
stand-in device plays audio through the same callback a PortAudio stream calls)."""

from __future__ import annotations

import queue
import time

import numpy as np
import pytest

from parakeet_desktop.engine.audio.capture import (
    DeviceChange,
    InputDevice,
    Microphone,
    MicrophoneError,
    PreRoll,
    RawBlock,
    StreamEnded,
    choose_device,
    list_input_devices,
)
from parakeet_desktop.engine.audio.file_device import FileSoundDevice
from parakeet_desktop.engine.audio.vad import Endpoint, GateConfig, Speech, SpeechGate
from parakeet_desktop.engine.live.dictation import DictationSession, LiveSettings, Mode
from parakeet_desktop.engine.live.events import Final
from parakeet_desktop.engine.recognize.streaming import StreamingConfig
from support.speech import held_out_utterances, silence, word_error_rate
from tools.memory import rss_mb


def run_gate(gate: SpeechGate, audio: np.ndarray, block: int = 480) -> list:
    out = []
    for start in range(0, len(audio), block):
        out.extend(gate.push(audio[start : start + block]))
    return out + gate.flush()


def passed_seconds(items) -> float:
    return sum(len(i.samples) for i in items if isinstance(i, Speech)) / 16000


@pytest.fixture(scope="module")
def spoken():
    return held_out_utterances(1)[0]


@pytest.fixture(scope="module")
def sentence(spoken):
    return spoken[1]


def test_silence_and_noise_never_reach_the_model():
    rng = np.random.default_rng(1)
    hiss = (0.003 * rng.standard_normal(16000 * 5)).astype(np.float32)
    for audio in (silence(5.0), hiss):
        assert passed_seconds(run_gate(SpeechGate(), audio)) == 0


def test_a_click_does_not_open_the_gate():
    click = silence(2.0)
    click[16000 : 16000 + 160] = 0.8 * np.sin(np.arange(160) / 3)
    assert passed_seconds(run_gate(SpeechGate(), click)) == 0


def test_pre_roll_and_hang_over_frame_the_speech(sentence):
    recording = np.concatenate([silence(1.0), sentence, silence(1.0)])
    items = run_gate(SpeechGate(GateConfig(pre_roll_ms=300, hangover_ms=300)), recording)
    passed = passed_seconds(items)
    spoken = len(sentence) / 16000
    # All of the speech, plus up to pre-roll and hang-over, and no more.
    assert spoken <= passed <= spoken + 0.3 + 0.3 + 0.09
    first = np.concatenate([i.samples for i in items if isinstance(i, Speech)])
    onset = int(np.flatnonzero(np.abs(first) > 0.02)[0])
    assert onset >= 0.15 * 16000  # quiet lead-in kept before the first loud sample


def test_endpoint_after_the_configured_pause_only(sentence):
    config = GateConfig(endpoint_ms=800)
    short_pause = np.concatenate([sentence, silence(0.5), sentence, silence(0.5)])
    assert not any(isinstance(i, Endpoint) for i in run_gate(SpeechGate(config), short_pause))
    long_pause = np.concatenate([sentence, silence(1.0), sentence, silence(1.0)])
    assert sum(isinstance(i, Endpoint) for i in run_gate(SpeechGate(config), long_pause)) == 2


def test_gate_output_does_not_depend_on_block_size(sentence):
    recording = np.concatenate([silence(0.7), sentence, silence(1.2), sentence, silence(0.2)])
    outputs = []
    for block in (160, 333, 4096, len(recording)):
        items = run_gate(SpeechGate(), recording, block)
        audio = np.concatenate([i.samples for i in items if isinstance(i, Speech)])
        outputs.append((audio, [isinstance(i, Endpoint) for i in items].count(True)))
    for audio, endpoints in outputs[1:]:
        assert endpoints == outputs[0][1]
        np.testing.assert_array_equal(audio, outputs[0][0])


def test_bad_gate_settings_are_refused():
    with pytest.raises(ValueError, match="aggressiveness"):
        GateConfig(aggressiveness=4)
    with pytest.raises(ValueError, match="frame_ms"):
        GateConfig(frame_ms=25)
    with pytest.raises(ValueError, match="hang-over"):
        GateConfig(hangover_ms=900, endpoint_ms=500)


def test_pre_roll_keeps_only_the_last_seconds():
    ring = PreRoll(0.5)
    for n in range(100):
        ring.append(np.full(320, n, dtype=np.float32))
    audio = ring.take()
    assert len(audio) == 8000 and audio[-1] == 99 and audio[0] == 75
    assert len(ring.take()) == 0


DEVICES = [InputDevice(3, "Built-in Microphone", 2, 48000.0, True),
           InputDevice(5, "USB Headset (Jabra Evolve 65)", 1, 16000.0, False)]


def test_device_chosen_by_name_with_fallback_notice():
    assert choose_device(DEVICES, "USB Headset (Jabra Evolve 65)") == (DEVICES[1], None)
    assert choose_device(DEVICES, "jabra")[0] is DEVICES[1]
    device, notice = choose_device(DEVICES, "Blue Yeti")
    assert device is DEVICES[0] and "Blue Yeti" in notice and "Built-in Microphone" in notice
    assert choose_device(DEVICES, None) == (DEVICES[0], None)
    assert choose_device([], "anything") == (None, None)


def test_stereo_44k_device_arrives_as_16k_mono(sentence):
    from parakeet_desktop.engine.audio.decode import resample

    at_44k = resample(sentence, 16000, 44100)
    device = FileSoundDevice(samples=at_44k, rate=44100, realtime=False)
    inbox: queue.Queue = queue.Queue()
    microphone = Microphone(inbox, sd=device)
    events = microphone.open()
    assert events[-1].kind is DeviceChange.OPENED
    blocks = []
    while True:
        item = inbox.get(timeout=10)
        if isinstance(item, StreamEnded):
            break
        blocks.append(microphone.to_16k(item))
    audio = np.concatenate(blocks)
    assert abs(len(audio) - len(sentence)) < 16000 * 0.05
    assert len(list_input_devices(device)) == 1


def test_a_full_queue_drops_and_counts_without_blocking_the_callback():
    device = FileSoundDevice(samples=silence(3.0), realtime=False)
    device.paced_by_consumer = False  # a live device: its callback must never wait
    inbox: queue.Queue = queue.Queue()
    microphone = Microphone(inbox, sd=device, max_queue_seconds=0.5)
    microphone.open()
    deadline = time.monotonic() + 10
    while not any(isinstance(i, StreamEnded) for i in list(inbox.queue)) and time.monotonic() < deadline:
        time.sleep(0.01)
    blocks = [i for i in list(inbox.queue) if isinstance(i, RawBlock)]
    assert len(blocks) == 25  # 0.5 s of 20 ms blocks
    assert microphone.overflows == 150 - 25


def test_no_microphone_raises_a_clear_error():
    microphone = Microphone(queue.Queue(), sd=FileSoundDevice(samples=silence(1.0), missing=True))
    with pytest.raises(MicrophoneError, match="No microphone found"):
        microphone.open()


@pytest.fixture(scope="module")
def long_dictation(spoken):
    """A minute of hands-free dictation, to be fed sixty times: an utterance every 30 s over
    faint noise."""
    reference, sentence = spoken
    rng = np.random.default_rng(0)
    minute = np.concatenate([sentence, silence(30 - len(sentence) / 16000)] * 2)
    return reference, minute + (0.001 * rng.standard_normal(len(minute))).astype(np.float32)


def test_an_hour_of_hands_free_dictation_does_not_grow_memory(speech_model, long_dictation):
    """An hour of mostly silence with an utterance every 30 s, fed as a microphone would."""
    reference, minute = long_dictation
    finals = []
    session = DictationSession(
        speech_model, LiveSettings(streaming=StreamingConfig(chunk=0.48, left=10.0, right=2.4)),
        lambda e: finals.append(e) if isinstance(e, Final) else None)
    session.start(Mode.HANDS_FREE)
    block = 16000 // 2
    rss = []
    for n in range(60):
        for start in range(0, len(minute), block):
            session.feed(minute[start : start + block])
        if n in (9, 59):
            rss.append(rss_mb())
    session.stop()
    assert len(finals) == 120
    assert all(word_error_rate([reference], [f.text]) <= 0.4 for f in finals), {f.text for f in finals}
    assert rss[1] - rss[0] < 25, rss
