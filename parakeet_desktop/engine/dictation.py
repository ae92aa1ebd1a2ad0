"""Dictation: the session state machine and the engine loop that drives it from a microphone.

:class:`DictationSession` is pure: audio blocks and commands go in, events come out through one
callback. Push-to-talk is start → stop; hands-free is start, then every pause (VAD endpoint)
finalises an utterance while listening goes on, until stop. :class:`LiveEngine` runs the session
on one thread that blocks on a single inbox, where the microphone's blocks and the commands
arrive in the order they happened: the audio captured before a key release is always part of
the utterance the release ends.

No words are lost: an utterance's audio is kept until its final text exists; if streaming fails
the final text comes from one pass over the whole utterance; if that fails too, the audio is
saved as a WAV file and the error says where.
"""

from __future__ import annotations

import enum
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .audio import SAMPLE_RATE
from .capture import DeviceEvent, Microphone, MicrophoneError, PreRoll, RawBlock, StreamEnded
from .model import ParakeetModel
from .streaming import StreamingConfig, StreamingTranscriber, default_config
from .transcript import Word
from .vad import Endpoint, GateConfig, SpeechGate

logger = logging.getLogger(__name__)


class Mode(enum.Enum):
    PUSH_TO_TALK = "ptt"
    HANDS_FREE = "handsfree"


class SessionState(enum.Enum):
    IDLE = "idle"
    LISTENING = "listening"
    FINALISING = "finalising"


class FinalPass(enum.Enum):
    """Whether the final text comes from one full-context pass over the whole utterance."""

    AUTO = "auto"  # on a GPU, or when the utterance fits in one streaming buffer anyway
    ALWAYS = "always"
    NEVER = "never"  # the streamed text alone


@dataclass(frozen=True)
class LiveSettings:
    gate: GateConfig = field(default_factory=GateConfig)
    streaming: StreamingConfig | None = None  # None: the default for the model's device
    final_pass: FinalPass = FinalPass.AUTO
    pre_roll_seconds: float = 0.5
    level_interval: float = 0.1
    # Audio that could not be recognised is saved here (a WAV per utterance), when set.
    rescue_dir: Path | None = None


@dataclass(frozen=True)
class StateChanged:
    state: SessionState
    mode: Mode


@dataclass(frozen=True)
class Level:
    """Input level of the last block, in dB below full scale (-100 for silence)."""

    dbfs: float


@dataclass(frozen=True)
class Partial:
    utterance: int
    text: str


@dataclass(frozen=True)
class Final:
    """The final text of an utterance; empty when a push-to-talk press heard no speech.

    Word times are seconds into the speech that reached the model (pauses are shortened).
    """

    utterance: int
    text: str
    words: tuple[Word, ...]
    seconds: float
    full_context: bool
    reason: str  # "stop", "pause" (hands-free endpoint), "device" (microphone lost)


@dataclass(frozen=True)
class ErrorEvent:
    message: str


@dataclass(frozen=True)
class Notice:
    message: str


Event = StateChanged | Level | Partial | Final | ErrorEvent | Notice


def level_dbfs(samples: np.ndarray) -> float:
    if len(samples) == 0:
        return -100.0
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return max(-100.0, 20.0 * math.log10(rms)) if rms > 0 else -100.0


# On a GPU the full-context final pass is cheap up to this length of speech.
_GPU_FULL_PASS_SECONDS = 120.0


class DictationSession:
    """Listening state, speech gate and streaming recogniser for one user's dictation."""

    def __init__(self, model: ParakeetModel, settings: LiveSettings, emit: Callable[[Event], None],
                 clock: Callable[[], float] = time.monotonic, stop_requested: threading.Event | None = None) -> None:
        self.model = model
        self.settings = settings
        self.emit = emit
        self.clock = clock
        self.streaming_config = settings.streaming or default_config(model.device)
        self.state = SessionState.IDLE
        self.mode = Mode.PUSH_TO_TALK
        self._pre_roll = PreRoll(settings.pre_roll_seconds)
        self._gate = SpeechGate(settings.gate)
        # Set from another thread when a stop is on its way: a running streaming step gives up.
        self._transcriber = StreamingTranscriber(model, self.streaming_config, stop_requested)
        self._streaming_failed = False
        self._utterance = 0
        self._last_level = -math.inf

    def _set_state(self, state: SessionState) -> None:
        self.state = state
        self.emit(StateChanged(state, self.mode))

    def start(self, mode: Mode = Mode.PUSH_TO_TALK) -> None:
        if self.state is not SessionState.IDLE:
            return
        self.mode = mode
        self._gate = SpeechGate(self.settings.gate)
        self._begin_utterance()
        self._set_state(SessionState.LISTENING)
        self._listen(self._pre_roll.take(), decode=True)

    def stop(self, reason: str = "stop") -> None:
        if self.state is not SessionState.LISTENING:
            return
        self._set_state(SessionState.FINALISING)
        for speech in self._gate.flush():
            self._accept(speech.samples, decode=False)
        if self._transcriber.duration > 0 or self.mode is Mode.PUSH_TO_TALK:
            self._finalise(reason)
        self._set_state(SessionState.IDLE)

    def toggle(self, mode: Mode = Mode.HANDS_FREE) -> None:
        if self.state is SessionState.IDLE:
            self.start(mode)
        else:
            self.stop()

    def continue_hands_free(self) -> None:
        """A push-to-talk press turned out to be a tap: keep listening, hands-free."""
        if self.state is SessionState.LISTENING and self.mode is not Mode.HANDS_FREE:
            self.mode = Mode.HANDS_FREE
            self.emit(StateChanged(self.state, self.mode))

    def feed(self, samples: np.ndarray, decode: bool = True) -> None:
        """16 kHz mono audio from the microphone. *decode* False only stores it (a stop is
        already waiting, so streaming steps would be wasted)."""
        now = self.clock()
        if now - self._last_level >= self.settings.level_interval:
            self._last_level = now
            self.emit(Level(level_dbfs(samples)))
        if self.state is SessionState.LISTENING:
            self._listen(samples, decode)
        else:
            self._pre_roll.append(samples)

    def device_lost(self, message: str) -> None:
        """The microphone went away: finish the utterance with what was heard, then stop."""
        self.emit(ErrorEvent(message))
        if self.state is SessionState.LISTENING:
            self.stop(reason="device")

    def _listen(self, samples: np.ndarray, decode: bool) -> None:
        for item in self._gate.push(samples):
            if isinstance(item, Endpoint):
                if self.mode is Mode.HANDS_FREE and self._transcriber.duration > 0:
                    self._finalise("pause")
                    self._begin_utterance()
            else:
                self._accept(item.samples, decode)

    def _begin_utterance(self) -> None:
        self._utterance += 1
        self._transcriber.reset()
        self._streaming_failed = False

    def _accept(self, samples: np.ndarray, decode: bool) -> None:
        if self._streaming_failed:
            self._transcriber.store(samples)
            return
        try:
            partial = self._transcriber.accept(samples, decode=decode)
        except Exception as exc:
            # The audio is stored before any step runs; the final pass will use it.
            logger.exception("Streaming recognition failed")
            self._streaming_failed = True
            self.emit(ErrorEvent(f"Live captions stopped ({exc}); the text will come when you stop."))
            return
        if partial is not None:
            self.emit(Partial(self._utterance, partial))

    def _use_full_context(self) -> bool:
        """For ``auto``: the full pass when it costs about what finishing the stream costs (the
        final streaming step would encode most of the utterance anyway), or on a GPU."""
        if self._streaming_failed or self.settings.final_pass is FinalPass.ALWAYS:
            return True
        if self.settings.final_pass is FinalPass.NEVER:
            return False
        seconds = self._transcriber.duration
        last_step = self.streaming_config.left + self._transcriber.pending_seconds
        return last_step >= 0.8 * seconds or (self.model.device == "cuda" and seconds <= _GPU_FULL_PASS_SECONDS)

    def _finalise(self, reason: str) -> None:
        seconds = self._transcriber.duration
        if seconds == 0:
            self.emit(Final(self._utterance, "", (), 0.0, False, reason))
            return
        full = self._use_full_context()
        ways = [True, False] if full else [False, True]
        if self._streaming_failed:
            ways = [True]
        failure: Exception | None = None
        for full_context in ways:
            try:
                if full_context:
                    recognition = self.model.recognize([self._transcriber.audio])[0]
                else:
                    recognition = self._transcriber.finish()
            except Exception as exc:
                logger.exception("Recognition of an utterance failed")
                failure = failure or exc
                continue
            self.emit(Final(self._utterance, recognition.text.strip(), recognition.words,
                            round(seconds, 3), full_context, reason))
            return
        self.emit(ErrorEvent(self._rescue(failure)))

    def _rescue(self, exc: Exception) -> str:
        message = f"This utterance could not be recognised ({exc})."
        folder = self.settings.rescue_dir
        if folder is None:
            return message
        import soundfile

        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / time.strftime(f"unrecognised-%Y%m%d-%H%M%S-{self._utterance}.wav")
            soundfile.write(path, self._transcriber.audio, SAMPLE_RATE, subtype="PCM_16")
        except OSError as save_error:
            return f"{message} Its audio could not be saved either: {save_error}"
        return f"{message} Its audio is saved in {path}."


@dataclass(frozen=True)
class _Command:
    name: str
    mode: Mode = Mode.PUSH_TO_TALK
    settings: LiveSettings | None = None
    device_name: str | None = None


# While the microphone is away, try to reopen it this often.
RETRY_SECONDS = 2.0
# With nothing in the inbox for this long, check whether the stream stalled.
CHECK_SECONDS = 1.0


class LiveEngine:
    """The dictation session driven by a microphone, on the thread that calls :meth:`run`.

    Load the model and run the engine on the same thread: PyTorch's CPU thread pool (OpenMP)
    belongs to the thread that first used it, and another thread running the model was measured
    1.6 to 1.9 times slower on a two-core machine.

    :meth:`start`, :meth:`stop`, :meth:`toggle` and :meth:`shutdown` may be called from any
    thread: they only post a command to the inbox.
    """

    def __init__(self, model: ParakeetModel, settings: LiveSettings, emit: Callable[[Event], None],
                 *, device_name: str | None = None, sd=None, until_input_ends: bool = False) -> None:
        self.inbox: queue.Queue = queue.Queue()
        # For a played file: return from run() once it has ended and its last words are out.
        self.until_input_ends = until_input_ends
        self.emit = emit
        # Set as soon as a stop is asked for (key release, end of input), before the engine
        # thread reaches it in the inbox: streaming work still running or waiting is skipped.
        self.stop_requested = threading.Event()
        self.session = DictationSession(model, settings, emit, stop_requested=self.stop_requested)
        self.microphone = Microphone(self.inbox, device_name, sd=sd, on_end=self.stop_requested.set)
        self.input_ended = threading.Event()
        self._resume_hands_free = False

    def start(self, mode: Mode = Mode.PUSH_TO_TALK) -> None:
        self.inbox.put(_Command("start", mode))

    def stop(self) -> None:
        self.stop_requested.set()
        self.inbox.put(_Command("stop"))

    def toggle(self, mode: Mode = Mode.HANDS_FREE) -> None:
        if self.session.state is SessionState.LISTENING:  # read across threads: only a hint
            self.stop_requested.set()
        self.inbox.put(_Command("toggle", mode))

    def continue_hands_free(self) -> None:
        self.inbox.put(_Command("continue_hands_free"))

    def reconfigure(self, settings: LiveSettings, device_name: str | None) -> None:
        """New gate, streaming and final-pass settings, and perhaps another microphone, without
        reloading the model. An utterance in progress is finished first."""
        self.inbox.put(_Command("reconfigure", settings=settings, device_name=device_name))

    def shutdown(self) -> None:
        self.stop_requested.set()
        self.inbox.put(_Command("shutdown"))

    def run(self) -> None:
        self._open_microphone()
        pending = None
        while True:
            if pending is not None:
                item, pending = pending, None
            else:
                try:
                    item = self.inbox.get(timeout=RETRY_SECONDS if self.microphone.lost else CHECK_SECONDS)
                except queue.Empty:
                    self._check_microphone()
                    continue
            if isinstance(item, StreamEnded) or (isinstance(item, _Command) and item.name in ("stop", "toggle", "shutdown")):
                self.stop_requested.clear()  # the stop that made it urgent is being handled now
            if isinstance(item, RawBlock):
                pending = self._feed_waiting_audio(item)
            elif isinstance(item, StreamEnded):
                self._device_event(self.microphone.ended(item))
                if self.until_input_ends and self.input_ended.is_set():
                    self.microphone.close()
                    return
            elif item.name == "shutdown":
                self.session.stop()
                self.microphone.close()
                return
            elif item.name in ("start", "toggle") and self.session.state is SessionState.IDLE \
                    and not self.microphone.running:
                self.emit(ErrorEvent("No microphone is available, so dictation cannot start."))
            elif item.name == "start":
                self.session.start(item.mode)
            elif item.name == "toggle":
                self.session.toggle(item.mode)
            elif item.name == "continue_hands_free":
                self.session.continue_hands_free()
            elif item.name == "reconfigure":
                self._reconfigure(item.settings, item.device_name)
            else:
                self._resume_hands_free = False
                self.session.stop()

    def _feed_waiting_audio(self, first: RawBlock):
        """Feed *first* and every block waiting behind it as one piece, so that a machine that
        fell behind catches up in few large steps. Returns the first non-audio item taken."""
        blocks, following = [self.microphone.to_16k(first)], None
        while following is None:
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, RawBlock):
                blocks.append(self.microphone.to_16k(item))
            else:
                following = item
        audio = [b for b in blocks if b is not None and len(b)]
        if audio:
            self.session.feed(np.concatenate(audio), decode=not self.stop_requested.is_set())
        return following

    def _reconfigure(self, settings: LiveSettings, device_name: str | None) -> None:
        self.session.stop()
        self.session = DictationSession(self.session.model, settings, self.emit,
                                        stop_requested=self.stop_requested)
        if device_name != self.microphone.device_name or self.microphone.lost:
            self.microphone.close()
            self.microphone.device_name = device_name
            self._open_microphone()

    def _open_microphone(self) -> None:
        try:
            events = self.microphone.open()
        except MicrophoneError as exc:
            self.microphone.lost = True
            self.emit(ErrorEvent(str(exc)))
            return
        for event in events:
            self.emit(Notice(event.message))

    def _check_microphone(self) -> None:
        if self.microphone.lost:
            events = self.microphone.retry()
            for event in events:
                self.emit(Notice(event.message))
            if events and self._resume_hands_free:
                self._resume_hands_free = False
                self.session.start(Mode.HANDS_FREE)
        else:
            self._device_event(self.microphone.check_stalled())

    def _device_event(self, event: DeviceEvent | None) -> None:
        if event is None:
            return
        if event.kind == "ended":
            self.session.stop()
            self.emit(Notice(event.message))
            self.input_ended.set()
        else:
            self._resume_hands_free = (self.session.state is SessionState.LISTENING
                                       and self.session.mode is Mode.HANDS_FREE)
            self.session.device_lost(event.message)
