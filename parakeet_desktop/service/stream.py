"""The WebSocket real-time stream at ``/v1/stream``.

Protocol (JSON text messages, binary audio):

- server → ``{"type": "welcome", "model", "sample_rate": 16000}`` on connect;
- client → ``{"action": "start", "sample_rate", "encoding": "pcm_s16le" | "f32le",
  "endpointing": bool, "keywords": [phrases], "prompt": text, "language": code}`` (keywords and
  prompt optional: phrases to favour, as service/keywords.py reads them; language optional), then
  binary frames of mono audio in that encoding (any sample rate: resampled here);
- server → ``{"type": "transcription", "text", "is_final": false}`` as the caption changes, and
  ``{"type": "transcription", "text", "is_final": true, "start", "end", "words", "language",
  "language_confidence"}`` for each finished utterance (times in seconds since the ``start``; the
  language the client named, else the one its text is in);
- client → ``{"action": "stop"}`` → the last final, then ``{"type": "stopped"}``; ``start`` may
  follow on the same connection.

``{"type": "warning", "message"}`` tells of something about the stream that is not an error (its
phrases partly unused, speech in its audio that gave no words). A malformed message gets
``{"type": "error", "message"}`` and the connection stays usable. Each
stream is recognised by the engine as dictation is (speech gate, streaming recogniser carrying
its decoder state, final pass); with ``endpointing`` a pause ends an utterance.

No final is lost when the server ends a stream: closed for silence, because the service stops,
or because its recognition failed, the stream's utterance is finished first and its final sent,
then ``{"type": "error", "message"}`` says why, then the socket closes. (A client that closes its
side can be sent nothing more: the WebSocket protocol ends the conversation there.) At most
``max_streams`` run at once; one more is told so and closed (1013, try again later).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import assert_never

import numpy as np
from fastapi import FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ..engine.audio import SAMPLE_RATE, MonoResampler
from ..engine.live import (
    ErrorEvent,
    Event,
    FileDone,
    FileProgress,
    Final,
    Level,
    LiveEngine,
    LiveSettings,
    MicrophoneState,
    ModelResting,
    Notice,
    Partial,
    StateChanged,
    Stream,
    StreamStopped,
    WakingUp,
)
from ..engine.recognize import Language, Latency, StreamingChoice, identify, named
from .errors import ApiError, BadJson, client_json
from .keywords import message_phrases, with_request_phrases
from .link import EngineLink, ServiceState
from .security import WITHOUT_TOKEN

logger = logging.getLogger(__name__)

ENCODINGS = {"pcm_s16le": ("<i2", 1 / 32768.0), "f32le": ("<f4", 1.0)}
MIN_RATE, MAX_RATE = 8000, 384000


# How long a stream's last final may take when the server ends it (the engine may be busy with
# dictation or other streams first).
FINAL_TIMEOUT_SECONDS = 60.0


class StreamHub:
    """The open connections, so that a stopping service can finish every stream first."""

    def __init__(self) -> None:
        self.connections: set[Connection] = set()
        self.without_token = 0  # of them, those opened without the token (``streams_without_token``)

    async def close_all(self, why: str, within: float = FINAL_TIMEOUT_SECONDS) -> None:
        """End every connection, each after its stream's final (waiting at most *within* s)."""
        await asyncio.gather(*(c.end(why, 1001, within) for c in list(self.connections)), return_exceptions=True)


def install_stream(app: FastAPI, link: EngineLink, config) -> StreamHub:
    """``/v1/stream``; the hub that other protocols' routes share (service/ears.py)."""
    hub = StreamHub()
    install_route(app, "/v1/stream", link, config, hub, Connection)
    return hub


def install_route(app: FastAPI, path: str, link: EngineLink, config, hub: StreamHub, kind: type[Connection]) -> None:
    """A WebSocket route at *path* whose connections *kind* serves (its token was checked in
    front of it: guard.py)."""

    async def route(websocket: WebSocket):
        await serve_connection(websocket, link, config, hub, kind)

    app.add_api_websocket_route(path, route)


async def serve_connection(websocket: WebSocket, link: EngineLink, config, hub: StreamHub,
                           kind: type[Connection]) -> None:
    """Accept a stream's connection, unless the model is not ready or too many streams run, and
    serve it with *kind* (a dialect of the protocol) until it ends."""
    await websocket.accept()
    engine = link.engine
    if link.state is not ServiceState.READY or engine is None:
        why = {ServiceState.LOADING: "the model is still loading",
               ServiceState.STOPPING: "the service is stopping"}.get(link.state, f"no model: {link.error}")
        await websocket.send_json({"type": "error", "message": f"Not ready: {why}; connect again shortly."})
        await websocket.close(code=1013)
        return
    if link.streams >= config.max_streams:
        await websocket.send_json({"type": "error", "message": f"{link.streams} streams are running, the most "
                                   "this service takes at once; connect again later."})
        await websocket.close(code=1013)
        return
    without_token = bool(websocket.scope.get("state", {}).get(WITHOUT_TOKEN))
    if without_token and hub.without_token >= max(1, config.max_streams // 2):
        await websocket.send_json({"type": "error", "message": f"{hub.without_token} streams without the token are "
                                   "running, the most this service takes (half its places, the rest kept for clients "
                                   "with the token); connect again later, or with the token."})
        await websocket.close(code=1013)
        return
    link.streams += 1  # counted in the same step as the check: no await between them
    hub.without_token += without_token
    connection = kind(websocket, link, engine, config)
    hub.connections.add(connection)
    try:
        await connection.run()
    finally:
        hub.connections.discard(connection)
        link.streams -= 1
        hub.without_token -= without_token


class Connection:
    """One client's connection to ``/v1/stream``; service/ears.py speaks another protocol
    over the same machinery."""

    def __init__(self, websocket: WebSocket, link: EngineLink, engine: LiveEngine, config) -> None:
        self.ws = websocket
        self.link = link
        self.engine = engine
        self.config = config
        self.loop = asyncio.get_running_loop()
        self.outbox: asyncio.Queue = asyncio.Queue()
        self.stream: Stream | None = None
        self.streams: list[Stream] = []  # started and not yet stopped by the engine
        self.encoding = ENCODINGS["pcm_s16le"]
        self.resampler = MonoResampler(SAMPLE_RATE)  # each start makes the one for its rate
        self.all_stopped = asyncio.Event()  # set while no stream of this connection is running
        self.all_stopped.set()
        self._ending: asyncio.Future | None = None
        self.language: str | None = None  # named by the client; detected in each final when None

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_loop())
        try:
            if not await self.hello():
                return
            while True:
                try:
                    message = await asyncio.wait_for(self.ws.receive(), timeout=self.config.stream_idle_seconds)
                except TimeoutError:
                    await self.end(f"Closed after {self.config.stream_idle_seconds:.0f} s without a message.", 1000,
                                   FINAL_TIMEOUT_SECONDS)
                    return
                if message["type"] == "websocket.disconnect":
                    return
                if self._ending is not None:
                    continue  # the server is ending this connection: what comes now is not taken
                if message.get("bytes") is not None:
                    await self._audio(message["bytes"])
                elif message.get("text") is not None:
                    await self._command(message["text"])
        except (WebSocketDisconnect, RuntimeError):
            return  # the client went away (RuntimeError: it did while we were answering)
        finally:
            if self._ending is None:  # the client went first: nothing is left for end() to send
                self._ending = self.loop.create_future()
                self._ending.set_result(None)
            elif not self._ending.done():
                with contextlib.suppress(Exception):
                    await self._ending  # the service is stopping: let the final go out first
            for stream in self.streams:
                self.engine.close_stream(stream)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def hello(self) -> bool:
        """Greet the client; False when the connection is refused instead (and closed)."""
        await self.ws.send_json({"type": "welcome", "model": self.link.model_name, "sample_rate": SAMPLE_RATE})
        return True

    def end(self, why: str, code: int, within: float) -> asyncio.Future:
        """Server side: finish the running stream (its final goes out, if it comes within
        *within* s), say *why*, then close. Once only; later calls share the first's task, and
        a connection its client has closed is already ended."""
        if self._ending is None:
            self._ending = asyncio.ensure_future(self._end(why, code, within))
        return self._ending

    async def _end(self, why: str, code: int, within: float) -> None:
        if self.stream is not None:
            self._stop_stream()
        try:
            await asyncio.wait_for(self.all_stopped.wait(), within)
        except TimeoutError:
            why += " (its last text could not be finished in time)"
        await self._say_error(why)
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self.outbox.join()
            await self.ws.close(code=code)

    # --- from the client ----------------------------------------------------------------------

    async def _command(self, text: str) -> None:
        try:
            message = client_json(text)
        except BadJson as exc:
            return await self._say_error(f"Messages must be JSON, such as {{\"action\": \"start\"}}; this one "
                                         f"is {exc}.")
        action = message.get("action") if isinstance(message, dict) else None
        if action == "start":
            await self._start(message)
        elif action == "stop":
            if self.stream is None:
                return await self._say_error("Nothing to stop: send {\"action\": \"start\"} first.")
            self._stop_stream()
        else:
            await self._say_error(f"Unknown action {action!r}; the actions are start and stop.")

    def _stop_stream(self) -> None:
        """The running stream's last audio, then its stop: the engine sends its final."""
        stream, self.stream = self.stream, None
        if stream is None:
            return
        tail = self.resampler.feed(np.zeros(0, dtype=np.float32), last=True)
        if len(tail):
            self.engine.stream_audio(stream, tail)
        self.engine.stop_stream(stream)

    async def _start(self, message: dict) -> None:
        if self.stream is not None:
            return await self._say_error("A stream is running already; send {\"action\": \"stop\"} first.")
        rate = message.get("sample_rate", SAMPLE_RATE)
        encoding = message.get("encoding", "pcm_s16le")
        endpointing = message.get("endpointing", False)
        if not isinstance(rate, int) or isinstance(rate, bool) or not MIN_RATE <= rate <= MAX_RATE:
            return await self._say_error(f"sample_rate must be a whole number of Hz from {MIN_RATE} to {MAX_RATE}.")
        if encoding not in ENCODINGS:
            return await self._say_error(f"Unknown encoding {encoding!r}; use {' or '.join(ENCODINGS)}.")
        if not isinstance(endpointing, bool):
            return await self._say_error("endpointing must be true or false.")
        language = message.get("language")
        if language is not None:
            if not isinstance(language, str) or not language.strip():
                return await self._say_error("language must be a language code such as \"en\".")
            if problem := self.link.unsupported_language(language.strip().lower()):
                return await self._say_error(problem)
        try:
            settings = self.live_settings(message)
        except ValueError as exc:
            return await self._say_error(str(exc))
        try:
            vocabulary, warning = with_request_phrases(self.link.model, message_phrases(message))
        except ApiError as exc:
            return await self._say_error(exc.message)
        if warning:
            self.outbox.put_nowait({"type": "warning", "message": warning})
        self.encoding = ENCODINGS[encoding]
        self.language = language.strip().lower() if language is not None else None
        self.resampler = MonoResampler(rate)
        self.stream = Stream(self._from_engine, endpointing=endpointing, vocabulary=vocabulary, settings=settings)
        self.streams.append(self.stream)
        self.all_stopped.clear()
        self.engine.open_stream(self.stream)

    def live_settings(self, message: dict) -> LiveSettings:
        return stream_settings(message)

    async def _audio(self, data: bytes) -> None:
        if self.stream is None:
            return await self._say_error("Audio before start: send {\"action\": \"start\", ...} first.")
        if len(data) > self.config.max_frame_bytes:
            return await self._say_error(f"A frame of {len(data)} bytes is larger than {self.config.max_frame_bytes}; "
                                         "send audio in smaller frames. This frame was not used.")
        dtype, scale = self.encoding
        width = np.dtype(dtype).itemsize
        if len(data) % width:
            return await self._say_error(f"A frame of {len(data)} bytes is not whole {width}-byte samples; "
                                         "this frame was not used.")
        samples = np.frombuffer(data, dtype=dtype).astype(np.float32) * scale
        if not np.all(np.isfinite(samples)):
            return await self._say_error("The frame holds samples that are not numbers; it was not used.")
        stream = self.stream
        resampled = self.resampler.feed(np.clip(samples, -1.0, 1.0))
        self.link.streamed_seconds += len(resampled) / SAMPLE_RATE
        self.engine.stream_audio(stream, resampled)
        limit = self.config.max_stream_backlog_seconds * SAMPLE_RATE
        while stream.sent - stream.taken > limit and not stream.closed.is_set():
            await asyncio.sleep(0.02)  # the engine is busy: hold this client back, keep its audio

    async def _say_error(self, message: str) -> None:
        self.outbox.put_nowait({"type": "error", "message": message})

    # --- from the engine ----------------------------------------------------------------------

    def _from_engine(self, event: Event) -> None:
        """Called on the engine thread: hand what the client hears of to this connection's loop
        (not the input levels and states that dictation's own front ends show)."""
        match event:
            case Partial() | Final() | ErrorEvent() | Notice() | StreamStopped():
                with contextlib.suppress(RuntimeError):  # the loop is gone: the service is stopping
                    self.loop.call_soon_threadsafe(self._queue_event, event)
            case (StateChanged() | Level() | MicrophoneState() | FileProgress() | FileDone()
                  | ModelResting() | WakingUp()):
                pass  # a session's states and levels, or not a stream's at all
            case _:
                assert_never(event)

    def _queue_event(self, event: Partial | Final | ErrorEvent | Notice | StreamStopped) -> None:
        match event:
            case Partial(_, text):
                self.outbox.put_nowait({"type": "transcription", "text": text, "is_final": False})
            case Final():
                language = self.language_of(event.text)
                self.outbox.put_nowait({
                    "type": "transcription", "text": event.text, "is_final": True,
                    "start": event.start, "end": event.end,
                    "words": [{"word": w.text, "start": w.start, "end": w.end} for w in event.input_words],
                    "language": language.code if language else None,
                    "language_confidence": round(language.confidence, 3) if language else None})
            case ErrorEvent(message):
                self.outbox.put_nowait({"type": "error", "message": message})
            case Notice(message):  # about this stream's audio, such as speech that gave no words
                self.outbox.put_nowait({"type": "warning", "message": message})
            case StreamStopped():
                self._stopped(event)

    def language_of(self, text: str) -> Language | None:
        """The language to report for a final: the one the client named, else its text's."""
        if self.language is not None:
            return named(self.language)
        return identify(text, self.link.languages)

    def _stopped(self, event: StreamStopped) -> None:
        self.streams = [s for s in self.streams if s.id != event.stream]
        if self.stream is not None and self.stream.id == event.stream:
            self.stream = None  # the engine ended it (its recognition failed, or it stopped)
        if not self.streams:
            self.all_stopped.set()
        self.on_stopped()

    def on_stopped(self) -> None:
        self.outbox.put_nowait({"type": "stopped"})

    async def _send_loop(self) -> None:
        while True:
            message = await self.outbox.get()
            try:
                if self.ws.application_state is WebSocketState.CONNECTED:
                    await self.ws.send_json(message)
            except (WebSocketDisconnect, RuntimeError):
                pass
            finally:
                self.outbox.task_done()


def stream_settings(message: dict) -> LiveSettings:
    """A stream's captions as its start message asks: ``latency`` (fast, balanced, accurate) and,
    for a cache-aware streaming model, ``step_ms`` (its look-ahead: the offered step nearest)."""
    latency = message.get("latency", Latency.BALANCED.value)
    step_ms = message.get("step_ms")
    if not isinstance(latency, str) or latency not in {choice.value for choice in Latency}:
        raise ValueError(f"latency must be one of {', '.join(choice.value for choice in Latency)}.")
    if step_ms is not None and (not isinstance(step_ms, int) or isinstance(step_ms, bool)
                                or not 10 <= step_ms <= 10000):
        raise ValueError("step_ms must be a whole number of milliseconds from 10 to 10000.")
    step = None if step_ms is None else step_ms / 1000
    return LiveSettings(streaming=StreamingChoice(latency=Latency(latency), step=step))
