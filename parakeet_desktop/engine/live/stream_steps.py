"""Other programs' real-time streams (the local service's WebSockets) on the live engine's
thread: each recognised as dictation is, by a session of its own, stepped in turn once the
engine's inbox is empty, their steps encoded together where they are ready together."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from functools import partial

from ..model import ParakeetModel, RecognitionCancelled
from ..recognize import AnyOf, CacheAwareTranscriber, encode_steps
from .dictation import DictationSession
from .events import ErrorEvent, StreamStopped
from .work import Stream

logger = logging.getLogger(__name__)


class StreamSteps:
    """The open streams. *stop_requested*: set when dictation wants the model (a key release):
    a step in flight gives up and runs again after it."""

    def __init__(self, model: ParakeetModel, stop_requested: threading.Event) -> None:
        self.model = model
        self.stop_requested = stop_requested
        self._open: deque[Stream] = deque()

    def __bool__(self) -> bool:
        return bool(self._open)

    def feed(self, stream: Stream, samples) -> None:
        """Store a stream's audio; its steps run in :meth:`step`."""
        stream.taken += len(samples)
        if stream.session is not None and not stream.closed.is_set():
            stream.session.feed(samples, decode=False)

    def stop_all(self) -> None:
        for stream in list(self._open):
            self.stop(stream)

    def open(self, stream: Stream) -> None:
        if stream.closed.is_set() or stream in self._open:
            return
        stream.session = DictationSession(self.model, stream.settings, stream.listener,
                                          stop_requested=AnyOf(stream.closed, self.stop_requested),
                                          vocabulary=stream.vocabulary)
        stream.session.start(stream.mode)
        self._open.append(stream)

    def stop(self, stream: Stream) -> None:
        """Its last Final, then StreamStopped."""
        if stream in self._open:
            self._open.remove(stream)
            if stream.session is not None and not stream.closed.is_set():
                stream.session.stop()
                stream.listener(StreamStopped(stream.id))
            stream.session = None

    def close(self, stream: Stream) -> None:
        """The client went away: no final."""
        if stream in self._open:
            self._open.remove(stream)
            stream.session = None

    def waiting(self) -> bool:
        return any(s.session is not None and s.session.has_steps_waiting for s in self._open)

    def step(self) -> bool:
        """One round of steps over the streams with audio waiting; False when none had any.

        Streams whose steps are ready together have their buffers encoded in one batch (NeMo's
        encoder masks each row's padding), then each decodes its own frames with its own
        carried state: four streams' CPU-preset steps took 0.67 to 0.75 of the time of four
        single calls on this project's build machines (bench/service.py).
        """
        ready = [(stream, session, step) for stream in self._open
                 if (session := stream.session) is not None and not stream.closed.is_set()
                 and (step := session.next_step()) is not None]
        if not ready:
            return False
        if len(ready) == 1:
            stream, session, _ = ready[0]
            self._guarded(stream, session.catch_up)
            return True
        native = [item for item in ready if isinstance(item[1].transcriber, CacheAwareTranscriber)]
        if native:
            self._native_steps(native)
            ready = [item for item in ready if item not in native]
            if not ready:
                return True
        buffers = [session.step_buffer(step) for _, session, step in ready]
        try:
            encoded, lengths = self.model.encode_batch(buffers, AnyOf(self.stop_requested))
        except RecognitionCancelled:
            return True  # a key release: dictation first, these steps run again after it
        except Exception:
            logger.exception("Encoding %d streams' steps together failed; stepping them one by one", len(ready))
            for stream, session, _ in ready:
                self._guarded(stream, session.catch_up)
            return True
        for row, (stream, session, step) in enumerate(ready):
            self._guarded(stream, partial(session.apply_step, step, encoded[row : row + 1], lengths[row : row + 1]))
        return True

    def _native_steps(self, ready: list) -> None:
        """Cache-aware streams' steps: those of one look-ahead and shape encoded together, their
        encoder caches stacked along the batch, each decoded with its own decoder state."""
        groups: dict[tuple, list] = {}
        for stream, session, _ in ready:
            transcriber = session.transcriber
            try:
                step = transcriber.step_input()
            except Exception as exc:  # noqa: BLE001 - that stream's captions alone stop; its final comes at stop
                session.run_step(partial(_raise, exc))
                continue
            groups.setdefault((transcriber.context, step.batch_key), []).append((stream, session, step))
        for (context, _), members in groups.items():
            if len(members) == 1:
                stream, session, _ = members[0]
                self._guarded(stream, session.catch_up)
                continue
            try:
                outputs = encode_steps(self.model, [step for _, _, step in members], context,
                                       AnyOf(self.stop_requested))
            except RecognitionCancelled:
                return  # a key release: dictation first, these steps run again after it
            except Exception:
                logger.exception("Encoding %d streams' steps together failed; stepping them one by one", len(members))
                for stream, session, _ in members:
                    self._guarded(stream, session.catch_up)
                continue
            for (stream, session, step), output in zip(members, outputs, strict=True):
                apply = partial(session.transcriber.apply_step, step, output)
                self._guarded(stream, partial(session.run_step, apply))

    def _guarded(self, stream: Stream, step: Callable[[], None]) -> None:
        """Run a stream's step; a failure is that stream's alone. The stream ends, its final
        made from the audio it sent (the session's own way when streaming fails: one pass
        over the utterance), and its client is told both."""
        if stream.session is None:
            return
        try:
            step()
        except Exception as exc:
            logger.exception("Stepping stream %d failed", stream.id)
            stream.listener(ErrorEvent(f"Recognition of this stream failed: {exc}"))
            if stream in self._open:
                self._open.remove(stream)
            try:
                stream.session.stop()
            except Exception:
                logger.exception("Finishing stream %d after its failure failed too", stream.id)
            stream.session = None
            stream.listener(StreamStopped(stream.id))


def _raise(exc: Exception) -> None:
    raise exc
