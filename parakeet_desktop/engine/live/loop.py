"""The live engine: the one thread that owns the model. It serves, in this order, the user's
dictation from a microphone, real-time streams of other programs (the local service's WebSocket),
and file work: requests a client waits for before long jobs.

Everything reaches the thread through one inbox, in the order it happened: the microphone's
blocks, the streams' audio and the commands. So the audio captured before a key release is always
part of the utterance that release ends. Streams' audio is only stored when it arrives; the
streams are stepped in turn once the inbox is empty, each taking all its waiting chunks at once,
so several streams that the machine cannot keep up with fall behind evenly, in bigger steps,
and lose nothing. A file job runs here too, batch by batch; when dictation starts, the batch in flight
stops before the encoder's next layer, dictation is served, and the batch runs again afterwards —
dictation never waits for a file. Between batches, streams are stepped and waiting requests run
before the rest of a long job; a job that asks for speakers has them given (speaker_models.py).

Load the model and run the engine on the same thread: PyTorch's CPU thread pool (OpenMP) belongs
to the thread that first used it, and another thread running the model was measured 1.6 to 1.9
times slower on a two-core machine.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import assert_never

import numpy as np

from ..audio import Microphone, RawBlock, StreamEnded
from ..model import ParakeetModel, RecognitionCancelled
from ..recognize import AnyOf, AudioInput, FileTranscriber, StreamTap
from .dictation import DictationSession, LiveSettings, Mode, SessionState
from .events import ErrorEvent, Event, FileDone, FileProgress, Notice, Outcome, StreamStopped
from .inbox import (
    STARTING,
    STOPPING,
    CloseStream,
    Command,
    ContinueHandsFree,
    OpenStream,
    Reconfigure,
    Shutdown,
    Start,
    Stop,
    StopStream,
    StreamAudio,
    SubmitJob,
    Toggle,
)
from .job_queue import JobQueue, Running
from .microphone_watch import MicrophoneWatch
from .rest import IdleRest
from .speaker_models import SpeakerModels
from .stream_steps import StreamSteps
from .work import FileJob, Stream

logger = logging.getLogger(__name__)

RETRY_SECONDS = 2.0  # while the microphone is away, try to reopen it this often
CHECK_SECONDS = 1.0  # with nothing in the inbox for this long, check whether the stream stalled


class _Stop(BaseException):
    """The engine is shutting down in the middle of a file job. Not an Exception: the handlers
    that keep one file's failure from stopping the others must let it through."""


class LiveEngine:
    """Dictation, streams and file jobs on the thread that calls :meth:`run`.

    The other methods may be called from any thread: they only post to the inbox (and flag that
    dictation wants the model). Without *microphone* (a headless service), no input device is
    opened and dictation cannot start.
    """

    def __init__(self, model: ParakeetModel, settings: LiveSettings, emit: Callable[[Event], None],
                 *, device_name: str | None = None, sd=None, until_input_ends: bool = False,
                 tap: StreamTap | None = None, microphone: bool = True) -> None:
        self.model = model
        # What the model says after loading (the GPU given up, graphs off) reaches the user.
        model.on_notice = lambda text: emit(Notice(text))
        self._tap = tap
        self.inbox: queue.Queue[Command | StreamAudio | RawBlock | StreamEnded] = queue.Queue()
        # For a played file: return from run() once it has ended and its last words are out.
        self.until_input_ends = until_input_ends
        self.emit = emit
        # Set as soon as a stop is asked for (key release, end of input), before the engine
        # thread reaches it in the inbox: streaming work still running or waiting is skipped.
        self.stop_requested = threading.Event()
        # Set as soon as dictation is asked for: a file batch in flight gives way at once.
        self.dictation_wanted = threading.Event()
        # Set by shutdown(): a file batch in flight stops too.
        self.shutting_down = threading.Event()
        # Once set (under the lock), work handed in is answered at once: nobody would run it.
        self._closed = False
        self._closing = threading.Lock()
        model.set_vocabulary(settings.vocabulary)
        self.session = DictationSession(model, settings, emit, stop_requested=self.stop_requested, tap=tap)
        self.speakers = SpeakerModels(settings.diarization_model, settings.speaker_model, lambda: self.model.device)
        self.rest = IdleRest(model, emit, settings.rest_after_seconds, also=self.speakers.rest)
        self.microphone = Microphone(self.inbox, device_name, sd=sd, on_end=self.stop_requested.set)
        self.input_ended = threading.Event()
        self.watch = MicrophoneWatch(self.microphone, self.emit, lambda: self.session, self.input_ended)
        self._pending = None
        self._stopping = False
        self._uses_microphone = microphone
        self._jobs = JobQueue()
        self._streams = StreamSteps(model, self.stop_requested)

    # --- commands, from any thread ----------------------------------------------------------

    def start(self, mode: Mode = Mode.PUSH_TO_TALK) -> None:
        self.dictation_wanted.set()
        self.inbox.put(Start(mode))

    def stop(self) -> None:
        self.stop_requested.set()
        self.inbox.put(Stop())

    def toggle(self, mode: Mode = Mode.HANDS_FREE) -> None:
        if self.session.state is SessionState.LISTENING:  # read across threads: only a hint
            self.stop_requested.set()
        else:
            self.dictation_wanted.set()
        self.inbox.put(Toggle(mode))

    def continue_hands_free(self) -> None:
        self.inbox.put(ContinueHandsFree())

    def reconfigure(self, settings: LiveSettings, device_name: str | None) -> None:
        """New gate, streaming and final-pass settings, and perhaps another microphone, without
        reloading the model. An utterance in progress is finished first."""
        self.inbox.put(Reconfigure(settings, device_name))

    def transcribe_files(self, paths: list[str | Path]) -> FileJob:
        """Queue a file job; its progress and results come as FileProgress / FileDone events.
        Set the job's ``cancel`` to stop it."""
        job = FileJob([Path(p) for p in paths])
        self.submit(job)
        return job

    def submit(self, job: FileJob) -> None:
        """Queue a file job made by the caller (its priority, its own listener). Once the engine
        has stopped, each of its files is answered at once as shut down."""
        self._post(SubmitJob(job))
        self._jobs.announce(job)

    def open_stream(self, stream: Stream) -> None:
        """Start recognising *stream*; its audio follows through :meth:`stream_audio`. Once the
        engine has stopped, the stream is answered at once as stopped."""
        self._post(OpenStream(stream))

    def _post(self, command: SubmitJob | OpenStream | StopStream) -> None:
        with self._closing:
            if not self._closed:
                self.inbox.put(command)
                return
        self._turn_away(command)

    def stream_audio(self, stream: Stream, samples: np.ndarray) -> None:
        """16 kHz mono float32 samples of *stream*."""
        stream.sent += len(samples)
        self.inbox.put(StreamAudio(stream, samples))

    def stop_stream(self, stream: Stream) -> None:
        """Finish the stream's utterance: its last Final, then StreamStopped (at once, without a
        final, once the engine has stopped: its shutdown finished every stream it had)."""
        self._post(StopStream(stream))

    def close_stream(self, stream: Stream) -> None:
        """The client went away: drop the stream and its work at once, without a final."""
        stream.closed.set()
        self.inbox.put(CloseStream(stream))

    def shutdown(self) -> None:
        self.stop_requested.set()
        self.shutting_down.set()
        self.inbox.put(Shutdown())

    # --- the engine thread ------------------------------------------------------------------

    def run(self) -> None:
        if self._uses_microphone:
            self.watch.open()
        while not self._stopping:
            idle = self.session.state is SessionState.IDLE
            item = self._next(block=not self._streams.waiting() and not (self._jobs and idle))
            if item is not None:
                self._handle(item)
            elif not self._streams.step() and idle and (job := self._jobs.take()) is not None:
                try:
                    self._run_file_job(job)
                except _Stop:
                    pass  # its files are answered; the loop ends
            if self.session.state is SessionState.IDLE and not self._streams and not self._jobs:
                self.rest.idle()
            else:
                self.rest.wake()  # dictation, a stream or a job: the model must be at work
        self._close()

    def _close(self) -> None:
        """Stopped: whatever is still in the inbox, or handed in later, is answered, so that no
        caller waits for work that will never run."""
        with self._closing:
            self._closed = True
        while True:
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, SubmitJob | OpenStream | StopStream):
                self._turn_away(item)

    def _turn_away(self, command: SubmitJob | OpenStream | StopStream) -> None:
        match command:
            case SubmitJob(job):
                emit = job.listener or self.emit
                for path in job.paths:
                    emit(FileDone(job.id, _name(path), None, None, Outcome.SHUT_DOWN))
            case OpenStream(stream) | StopStream(stream):
                stream.listener(StreamStopped(stream.id))

    def _next(self, block: bool):
        if self._pending is not None:
            item, self._pending = self._pending, None
            return item
        timeout = RETRY_SECONDS if self.microphone.lost else CHECK_SECONDS
        asked = time.monotonic()
        try:
            if not block:
                return self.inbox.get_nowait()
            return self.inbox.get(timeout=timeout)
        except queue.Empty:
            if block:
                self.watch.check(late=time.monotonic() - asked - timeout)
            return None

    def _handle(self, item: Command | StreamAudio | RawBlock | StreamEnded) -> None:
        if isinstance(item, StreamEnded | STOPPING):
            self.stop_requested.clear()  # the stop that made it urgent is being handled now
        match item:
            case RawBlock():
                self._pending = self._feed_waiting_audio(item)
            case StreamAudio(stream, samples):
                self._streams.feed(stream, samples)
            case StreamEnded():
                self.watch.device_event(self.microphone.ended(item))
                if self.until_input_ends and self.input_ended.is_set():
                    self.microphone.close()
                    self._stopping = True
            case OpenStream(stream):
                self._streams.open(stream)
            case StopStream(stream):
                self._streams.stop(stream)
            case CloseStream(stream):
                self._streams.close(stream)
            case Shutdown():
                self.session.stop()
                self.microphone.close()
                self._streams.stop_all()
                self._stopping = True
                for job in self._jobs.take_all():
                    self._run_file_job(job)  # each file says it was not done
            case Start() | Toggle() if self.session.state is SessionState.IDLE and not self.microphone.running:
                self.emit(ErrorEvent("No microphone is available, so dictation cannot start."))
            case Start(mode):
                self.session.start(mode)
            case Toggle(mode):
                self.session.toggle(mode)
            case ContinueHandsFree():
                self.session.continue_hands_free()
            case Reconfigure(settings, device_name):
                self._reconfigure(settings, device_name)
            case SubmitJob(job):
                self._jobs.add(job)  # run by run() once nothing else is waiting
            case Stop():
                self.watch.resume_hands_free = False
                self.session.stop()
            case _:
                assert_never(item)
        if self.session.state is SessionState.IDLE and not self._start_waiting():
            self.dictation_wanted.clear()

    def _start_waiting(self) -> bool:
        return any(isinstance(i, STARTING) for i in list(self.inbox.queue))

    # --- file jobs --------------------------------------------------------------------------

    def _run_file_job(self, job: FileJob) -> None:
        emit = job.listener or self.emit
        names = [_name(path) for path in job.paths]
        if self._stopping:  # shutting down: a job still waiting is only answered
            for name in names:
                emit(FileDone(job.id, name, None, None, Outcome.SHUT_DOWN))
            return
        self.rest.wake()
        answered = 0

        def done(name: Path, transcript=None, error: str | None = None, outcome: Outcome = Outcome.DONE) -> None:
            nonlocal answered
            answered += 1
            emit(FileDone(job.id, name, transcript, error, outcome))

        with self._jobs.running(job) as running:
            transcriber = FileTranscriber(self.model, yield_to=lambda: self._serve_first(running),
                                          interrupt=AnyOf(self.dictation_wanted, self.shutting_down, self._jobs.ahead),
                                          vocabulary=job.vocabulary, finish=self.speakers.finish(
                                              job.speakers, job.cancel, lambda: self._serve_first(running)))
            # A job of short requests gathered by the service is recognised as one call, so
            # that their pieces share batches; any other job, file by file.
            files = list(zip(names, job.paths, strict=True))
            groups = [files] if job.together else [[file] for file in files]
            try:
                for group in groups:
                    name = group[0][0]
                    if job.cancel.is_set():
                        for other, _ in group:
                            done(other, outcome=Outcome.CANCELLED)
                        continue

                    def progress(p, name=name):
                        if running.remaining is not None:
                            running.remaining = max(0.0, p.total_seconds - p.done_seconds)
                        emit(FileProgress(job.id, name, min(1.0, p.fraction), p.text))

                    left = {other for other, _ in group}
                    try:
                        for result in transcriber.transcribe_files([path for _, path in group], cancel=job.cancel,
                                                                   progress=None if job.together else progress):
                            left.discard(result.path)
                            if result.transcript is not None:
                                done(result.path, result.transcript)
                            else:
                                done(result.path, error=result.error, outcome=Outcome.FAILED)
                    except RecognitionCancelled:
                        for other in sorted(left):
                            done(other, outcome=Outcome.CANCELLED)
                    except Exception as exc:  # one file's failure is that file's, not the job's
                        logger.exception("Transcribing %s failed", name)
                        for other in sorted(left):
                            done(other, error=f"could not be transcribed: {exc}", outcome=Outcome.FAILED)
            except _Stop:
                for name in names[answered:]:  # shutting down: whoever waits on the rest is told
                    done(name, outcome=Outcome.SHUT_DOWN)
                raise

    def _serve_first(self, running: Running) -> None:
        """Between (and in place of interrupted) file batches: handle what is waiting, all of a
        dictation until the session is idle again, the streams' waiting steps, and file work
        more urgent than the job in progress (or of its priority and much shorter than what is
        left of it)."""
        self._jobs.ahead.clear()  # what it announced is taken below
        while not self._stopping:
            busy = self.dictation_wanted.is_set() or self.session.state is not SessionState.IDLE
            item = self._next(block=busy and not self._streams.waiting())
            if item is not None:
                self._handle(item)
            elif self._streams.step() or busy:
                continue
            elif (urgent := self._jobs.take(ahead_of=running)) is not None:
                self._run_file_job(urgent)
            else:
                return
        raise _Stop()

    # --- dictation helpers --------------------------------------------------------------------

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
        self.model.set_vocabulary(settings.vocabulary)  # no reload: the next utterance uses it
        self.rest.after_seconds = settings.rest_after_seconds
        self.session = DictationSession(self.model, settings, self.emit, stop_requested=self.stop_requested,
                                        tap=self._tap)
        self.watch.switch(device_name)


def _name(path: Path | AudioInput) -> Path:  # an upload is known by its name
    return Path(path.name) if isinstance(path, AudioInput) else path

