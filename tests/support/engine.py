"""What the engine's tests share: the streaming sizes the fixture model needs, an event
recorder, a recording played through the live engine, and the audio the speech gate passes."""

from __future__ import annotations

import numpy as np

from parakeet_desktop.engine.audio.file_device import FileSoundDevice
from parakeet_desktop.engine.audio.vad import Speech, SpeechGate
from parakeet_desktop.engine.live.dictation import LiveSettings
from parakeet_desktop.engine.live.loop import LiveEngine
from parakeet_desktop.engine.live.modes import FinalPass, Mode
from parakeet_desktop.engine.recognize.streaming import StreamingConfig

# Chunks of 0.48 s, several per utterance (the held-out sentences last 1.5-3.5 s). The fixture
# model learnt from whole short sentences and leans on what comes later in them, so it needs a
# longer right context than Parakeet's published 0.8-1.6 s to stream as it transcribes offline.
TEST_STREAMING = StreamingConfig(chunk=0.48, left=10.0, right=2.4)
STREAMED_ONLY = LiveSettings(streaming=TEST_STREAMING, final_pass=FinalPass.NEVER)


class Recorder:
    """Collects engine events as a user interface would receive them."""

    def __init__(self) -> None:
        self.events: list = []

    def __call__(self, event) -> None:
        self.events.append(event)

    def of(self, kind) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def run_engine(model, device: FileSoundDevice, settings: LiveSettings, mode: Mode) -> Recorder:
    """Play *device* to its end through a LiveEngine that starts listening before it plays."""
    recorder = Recorder()
    engine = LiveEngine(model, settings, recorder, sd=device, until_input_ends=True)
    engine.start(mode)
    engine.run()
    assert engine.input_ended.is_set()
    return recorder


def normalised(text: str) -> str:
    return " ".join(text.split())


def gated(recording: np.ndarray, settings: LiveSettings = STREAMED_ONLY) -> np.ndarray:
    """The audio of *recording* that the speech gate lets through to the model."""
    gate = SpeechGate(settings.gate)
    pieces = [item.samples for item in gate.push(recording) if isinstance(item, Speech)]
    pieces += [item.samples for item in gate.flush()]
    return np.concatenate(pieces)
