"""Dictation: the session state machine.

:class:`DictationSession` is pure: audio blocks and commands go in, events come out through one
callback. Push-to-talk is start → stop; hands-free is start, then every pause (VAD endpoint)
finalises an utterance while listening goes on, until stop. ``live.LiveEngine`` drives it from a
microphone.

No words are lost: an utterance's audio is kept until its final text exists; if streaming fails
the final text comes from one pass over the whole utterance; if that fails too, the audio is
saved as a WAV file and the error says where.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE, Endpoint, GateConfig, PreRoll, SpeechGate, Spool, discard_spool
from ..model import DEFAULT_DIARIZATION_MODEL, DEFAULT_SPEAKER_EMBEDDING_MODEL, ParakeetModel, Recognition
from ..recognize import (
    SPEECH_WITHOUT_WORDS_SECONDS,
    CacheAwareConfig,
    FileTranscriber,
    Flag,
    StreamingChoice,
    StreamingConfig,
    StreamTap,
    Vocabulary,
    Word,
    route_config,
    speech_without_words,
    transcriber_for,
    unheard_speech_warning,
)
from .events import ErrorEvent, Event, Final, FinalReason, Level, Notice, Partial, StateChanged
from .modes import FinalPass, Mode, SessionState

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveSettings:
    gate: GateConfig = field(default_factory=GateConfig)
    # A choice resolved for the model's device at each utterance, or sizes that hold everywhere.
    streaming: StreamingChoice | StreamingConfig | CacheAwareConfig = field(default_factory=StreamingChoice)
    final_pass: FinalPass = FinalPass.AUTO
    pre_roll_seconds: float = 0.5
    level_interval: float = 0.1
    # Audio that could not be recognised is saved here (a WAV per utterance), when set.
    rescue_dir: Path | None = None
    # The utterance in progress is spooled here (engine/audio/spool.py), when set.
    spool_dir: Path | None = None
    # Our own start tone reaching the microphone (speakers beside it) must not become words:
    # for this long from each start, the tone's frequencies are filtered out of what is heard
    # (narrow notches: a word spoken over the tone survives). The app sets both when tones are on.
    start_tone_seconds: float = 0.0
    start_tone_hz: tuple[float, ...] = ()
    # Phrases favoured while decoding (the model's vocabulary in force; engine/recognize/vocabulary.py).
    vocabulary: Vocabulary = field(default_factory=Vocabulary)
    # Idle time before the model gives the GPU's memory back, in seconds (None: never).
    rest_after_seconds: float | None = None
    # Partial events carry the words the final will keep (a stream's clients that show words
    # one by one and never take one back); computing them costs a little on every step.
    certain_words: bool = False
    # The models that tell speakers apart in file jobs that ask (hub ids or .nemo paths).
    diarization_model: str = DEFAULT_DIARIZATION_MODEL
    speaker_model: str = DEFAULT_SPEAKER_EMBEDDING_MODEL


def level_dbfs(samples: np.ndarray) -> float:
    if len(samples) == 0:
        return -100.0
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return max(-100.0, 20.0 * math.log10(rms)) if rms > 0 else -100.0


# On a GPU the full-context final pass is cheap up to this length of speech.
_GPU_FULL_PASS_SECONDS = 120.0


class ToneNotch:
    """Notch filters at our start tone's frequencies, their state carried from block to block
    (no frequencies: silence instead)."""

    def __init__(self, frequencies: tuple[float, ...], quality: float = 8.0) -> None:
        from scipy import signal

        self._sos = (np.concatenate([signal.tf2sos(*signal.iirnotch(f, quality, fs=SAMPLE_RATE))
                                     for f in frequencies]) if frequencies else None)
        self.reset()

    def reset(self) -> None:
        """From silence again (each start)."""
        self._state = np.zeros((len(self._sos), 2)) if self._sos is not None else None

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        if self._sos is None:
            return np.zeros_like(samples)
        from scipy import signal

        filtered, self._state = signal.sosfilt(self._sos, samples, zi=self._state)
        return filtered.astype(np.float32)


class DictationSession:
    """Listening state, speech gate and streaming recogniser for one user's dictation."""

    def __init__(self, model: ParakeetModel, settings: LiveSettings, emit: Callable[[Event], None],
                 clock: Callable[[], float] = time.monotonic, stop_requested: Flag | None = None,
                 tap: StreamTap | None = None, vocabulary: Vocabulary | None = None) -> None:
        self.model = model
        self.settings = settings
        # A stream's own phrases (the local API's keywords); dictation uses the model's in force.
        self.vocabulary = vocabulary
        self.emit = emit
        self.clock = clock
        self.state = SessionState.IDLE
        self.mode = Mode.PUSH_TO_TALK
        self._pre_roll = PreRoll(settings.pre_roll_seconds)
        self._gate = SpeechGate(settings.gate)
        # Set from another thread when a stop is on its way: a running streaming step gives up.
        self._stop_requested = stop_requested
        self._tap = tap
        self.streaming_config = route_config(settings.streaming, model)
        self._transcriber = transcriber_for(model, self.streaming_config, stop_requested, tap, vocabulary)
        self._streaming_failed = False
        self._carried = False  # the utterance began with audio after an end-of-utterance mark
        self._utterance = 0
        self._first_position = 0
        self._spool = Spool(settings.spool_dir) if settings.spool_dir is not None else None
        self._last_level = -math.inf
        self._tone_left = 0  # samples still to filter while the start tone may play
        # Designed once, here: the first start must not wait for scipy.
        self._notch = ToneNotch(settings.start_tone_hz) if settings.start_tone_seconds else None

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
        self._tone_left = round(self.settings.start_tone_seconds * SAMPLE_RATE)
        if self._notch is not None:
            self._notch.reset()

    def stop(self, reason: FinalReason = FinalReason.STOP) -> None:
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
            if self._tone_left > 0 and self._notch is not None:  # our start tone may be playing: take it out
                n = min(self._tone_left, len(samples))
                samples = np.concatenate([self._notch(samples[:n]), samples[n:]])
                self._tone_left -= n
            self._listen(samples, decode)
        else:
            self._pre_roll.append(samples)

    @property
    def has_steps_waiting(self) -> bool:
        return self.next_step() is not None

    def next_step(self) -> tuple[int, int] | None:
        """The streaming step waiting to run, for a caller that encodes several sessions' steps
        in one batch (the live engine, for the local service's streams)."""
        if self.state is not SessionState.LISTENING or self._streaming_failed:
            return None
        return self._transcriber.next_step()

    def step_buffer(self, step: tuple[int, int]) -> np.ndarray:
        return self._transcriber.step_buffer(step)

    @property
    def transcriber(self):
        """The utterance's streaming recogniser (``StreamingTranscriber`` or ``CacheAwareTranscriber``)."""
        return self._transcriber

    def run_step(self, step: Callable[[], str | None]) -> None:
        """Run a step of :attr:`transcriber` made elsewhere (a batch of streams); its partial
        text goes out as usual, and its failure ends live captions for this utterance only."""
        self._stepping(step)

    def apply_step(self, step: tuple[int, int], encoded, encoded_length) -> None:
        """Run *step* with its buffer encoded in a batch; its partial text goes out as usual."""
        self._stepping(lambda: self._transcriber.apply_step(step, encoded, encoded_length))

    def catch_up(self) -> None:
        """Run the streaming steps that audio fed with ``decode=False`` allows (the local
        service stores every stream's audio first and steps the streams in turn)."""
        if self.state is SessionState.LISTENING:
            self._accept(None, decode=True)

    def device_lost(self, message: str) -> None:
        """The microphone went away: finish the utterance with what was heard, then stop."""
        self.emit(ErrorEvent(message))
        if self.state is SessionState.LISTENING:
            self.stop(reason=FinalReason.DEVICE)

    def _listen(self, samples: np.ndarray, decode: bool) -> None:
        for item in self._gate.push(samples):
            if isinstance(item, Endpoint):
                if self.mode is Mode.HANDS_FREE and self._transcriber.duration > 0:
                    self._finalise(FinalReason.PAUSE)
                    self._begin_utterance()
            else:
                self._accept(item.samples, decode)

    def _begin_utterance(self, carried: int = 0) -> None:
        """A new utterance; *carried* samples the gate passed already open it (the audio after
        an end-of-utterance mark)."""
        self._utterance += 1
        frame = SAMPLE_RATE * self.settings.gate.frame_ms // 1000
        self._first_position = max(0, len(self._gate.positions) - math.ceil(carried / frame))
        self._carried = carried > 0
        config = route_config(self.settings.streaming, self.model)
        if config != self.streaming_config:  # the model changed device since the last utterance
            self.streaming_config = config
            self._transcriber = transcriber_for(self.model, config, self._stop_requested, self._tap, self.vocabulary)
        self._transcriber.reset()
        self._streaming_failed = False
        if self._spool is not None:
            self._spool.begin()

    def _accept(self, samples: np.ndarray | None, decode: bool) -> None:
        """Store *samples* (None: nothing new) and, with *decode*, run the steps they allow."""
        if samples is not None:
            self._transcriber.store(samples)
            if self._spool is not None:
                self._spool.append(samples)
        if self._streaming_failed or not decode:
            return
        self._stepping(self._transcriber.step)

    def _stepping(self, step: Callable[[], str | None]) -> None:
        try:
            partial = step()
        except Exception as exc:
            # The audio is stored before any step runs; the final pass will use it.
            logger.exception("Streaming recognition failed")
            self._streaming_failed = True
            self.emit(ErrorEvent(f"Live captions stopped ({exc}); the text will come when you stop."))
            return
        if partial is not None:
            self.emit(Partial(self._utterance, partial, self._certain_words()))
        if self._transcriber.heard_end and self.mode is Mode.HANDS_FREE and self.state is SessionState.LISTENING:
            self._end_where_heard()

    def _certain_words(self) -> tuple[Word, ...]:
        """The words the final will keep, when asked for: those the stream has committed but the
        last (its next tokens may still add to it), and only where the final is the stream's own
        finish. A full-context final pass may hear any word otherwise, so none is certain before
        it."""
        if not self.settings.certain_words or self._streaming_failed:
            return ()
        final_pass = self.settings.final_pass
        buffered = isinstance(self.streaming_config, StreamingConfig)
        if final_pass is FinalPass.ALWAYS or (buffered and final_pass is not FinalPass.NEVER):
            return ()
        decoding = self._transcriber.decoding
        if not decoding.tokens:
            return ()
        words = decoding.recognition(self._transcriber.duration).words[:-1]
        return tuple(Word(w.text, self._in_input(w.start), self._in_input(w.end)) for w in words)

    def _in_input(self, seconds: float) -> float:
        """A time in the utterance's speech as seconds of the audio fed since listening started."""
        return self._gate.input_seconds(self._first_position, seconds)

    def _end_where_heard(self) -> None:
        """Hands-free, with a model that marks where an utterance ends: end it there, at once
        (sooner than the speech gate's pause), and go on with the audio after the mark."""
        rest = self._transcriber.split_at_end()
        self._finalise(FinalReason.END_OF_UTTERANCE)
        self._begin_utterance(carried=len(rest))
        self._accept(rest, decode=True)

    def _use_full_context(self) -> bool:
        """For ``auto``: the full pass when it costs about what finishing the stream costs (the
        final streaming step would encode most of the utterance anyway), or on a GPU."""
        if self._streaming_failed or self.settings.final_pass is FinalPass.ALWAYS:
            return True
        if self.settings.final_pass is FinalPass.NEVER or not isinstance(self.streaming_config, StreamingConfig):
            return False  # a cache-aware model's streamed text is as good as a pass over the whole
        seconds = self._transcriber.duration
        last_step = self.streaming_config.left + self._transcriber.pending_seconds
        return last_step >= 0.8 * seconds or (self.model.device == "cuda" and seconds <= _GPU_FULL_PASS_SECONDS)

    def _finalise(self, reason: FinalReason) -> None:
        try:
            self._final_text(reason)
        finally:  # the full pass ends an utterance without the stream's finish()
            self._transcriber.let_go_of_vocabulary()

    def _final_text(self, reason: FinalReason) -> None:
        spooled = self._spool.end() if self._spool is not None else None
        seconds = self._transcriber.duration
        if seconds == 0:
            discard_spool(spooled)
            self.emit(Final(self._utterance, "", (), 0.0, False, reason))
            return

        full = self._use_full_context()
        ways = [True, False] if full else [False, True]
        if self._streaming_failed:
            ways = [True]
        failure: Exception | None = None
        for full_context in ways:
            try:
                recognition = self._full_pass() if full_context else self._transcriber.finish()
            except Exception as exc:
                logger.exception("Recognition of an utterance failed")
                failure = failure or exc
                continue
            if self._carried and not recognition.text.strip():
                discard_spool(spooled)  # only the pause after an end-of-utterance mark: no utterance
                return
            heard = tuple(Word(w.text, self._in_input(w.start), self._in_input(w.end)) for w in recognition.words)
            self.emit(Final(self._utterance, recognition.text.strip(), recognition.words, round(seconds, 3),
                            full_context, reason, self._in_input(0.0), self._in_input(seconds), heard, spooled))
            if seconds >= SPEECH_WITHOUT_WORDS_SECONDS:
                unheard = unheard_speech_warning(speech_without_words(
                    self._transcriber.audio, list(recognition.words), self.settings.gate.aggressiveness))
                if unheard:
                    self.emit(Notice(f"In the last utterance, {unheard}."))
            return
        message, saved = self._rescue(failure or RuntimeError("no way to recognise it was left"))
        self.emit(ErrorEvent(message))
        if saved:
            discard_spool(spooled)  # else the spool stays, and the next start tries it again

    def _full_pass(self) -> Recognition:
        """One pass over the whole utterance; one longer than the device's longest piece is cut
        at pauses first (attention's memory grows with the square of the length)."""
        audio = self._transcriber.audio
        if len(audio) <= self.model.max_piece_seconds * SAMPLE_RATE:
            return self.model.recognize([audio], vocabulary=self.vocabulary)[0]
        files = FileTranscriber(self.model, vad_aggressiveness=self.settings.gate.aggressiveness,
                                vocabulary=self.vocabulary)
        transcript = files.transcribe_array(audio)
        return Recognition(transcript.text, tuple(transcript.words))

    def _rescue(self, exc: Exception) -> tuple[str, bool]:
        """The error's message, and whether the audio was saved as a WAV file."""
        message = f"This utterance could not be recognised ({exc})."
        folder = self.settings.rescue_dir
        if folder is None:
            return message, False
        import soundfile

        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / time.strftime(f"unrecognised-%Y%m%d-%H%M%S-{self._utterance}.wav")
            soundfile.write(path, self._transcriber.audio, SAMPLE_RATE, subtype="PCM_16")
        except OSError as save_error:
            return f"{message} Its audio could not be saved either: {save_error}", False
        return f"{message} Its audio is saved in {path}.", True
