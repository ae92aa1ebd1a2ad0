"""eaRS's real-time WebSocket protocol, at ``/`` and at Dalston's path.

eaRS (a speech server whose protocol has JavaScript, Python and Rust clients; its
``docs/WEBSOCKET.md`` is the reference) streams without a start message:

- client → binary frames of f32 little-endian mono at 24 kHz (resampled here); the first one
  starts the stream. ``?sample_rate=`` and ``?encoding=`` (``f32le``/``pcm_f32le`` or
  ``pcm_s16le``) in the URL change that for clients that send something else;
- client → ``{"type": "stop"}`` or the bare string ``stop``: the last words and final, then the
  server closes the connection; ``{"type": "setlanguage", "lang": "fr"}``: the language reported
  from now on (checked against the model; ``auto`` goes back to detecting it);
- server → ``{"type": "word", "word", "start_time", "end_time"}`` for each word once it is
  certain, ``{"type": "language_detected", "lang", "confidence"}``, ``{"type": "segment", "text",
  "start_time", "end_time", "lang"}`` and ``{"type": "final", "text", "words": [{"word",
  "start_time", "end_time"}], "lang"}`` at each pause and at the stop, ``{"type": "error",
  "message"}``. Times are seconds since the stream's first sample.

A word goes out only once the final text will keep it: as the streaming decoder commits it with
a cache-aware streaming model (whose final is its stream's own finish), else with its
utterance's final, which a full-context pass may hear differently from the captions. Each pause
ends an utterance (the service's endpointing), so words arrive at least pause by pause; none is
ever taken back. ``?model=`` (Dalston's clients name one) must name the loaded model or an alias
of it. The token goes in the URL (``?token=``), or, where the owner allowed it
(``serve --streams-without-token``), a client on this machine may connect without one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.websockets import WebSocketDisconnect

from ..engine.live import ErrorEvent, Final, FinalReason, LiveSettings, Notice, Partial, StreamStopped
from ..engine.recognize import Word
from .errors import BadJson, client_json
from .link import EngineLink
from .stream import MAX_RATE, MIN_RATE, Connection, StreamHub, install_route, stream_settings

logger = logging.getLogger(__name__)

EARS_PATHS = ("/", "/v1/audio/transcriptions/stream")
EARS_RATE = 24000
_ENCODING_NAMES = {"f32le": "f32le", "pcm_f32le": "f32le", "f32": "f32le", "pcm_s16le": "pcm_s16le"}


def install_ears(app, link: EngineLink, config, hub: StreamHub) -> None:
    for path in EARS_PATHS:
        install_route(app, path, link, config, hub, EarsConnection)


class EarsConnection(Connection):
    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.stop_asked = False
        self.rate = EARS_RATE
        self.encoding_name = "f32le"
        self.utterance: int | None = None
        self.words_sent: list[Word] = []  # of the utterance in progress
        self._closing: asyncio.Task | None = None

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            if self._closing is not None:
                self._closing.cancel()

    async def hello(self) -> bool:
        """No greeting (eaRS sends none); a URL that asks for what this service cannot give is
        answered with an error and the connection closed (1008)."""
        problem = self._query_problem(self.ws.query_params)
        if problem is None:
            return True
        await self.ws.send_json({"type": "error", "message": problem})
        await self.ws.close(code=1008)
        return False

    def _query_problem(self, query) -> str | None:
        model = query.get("model")
        if model and not self.link.serves(model):
            return f"The model {model} is not loaded here; this service has {self.link.model_name}."
        language = query.get("lang") or query.get("language")
        if language and (problem := self._set_language(language)):
            return problem
        rate = query.get("sample_rate")
        if rate is not None:
            if not rate.isdigit() or not MIN_RATE <= int(rate) <= MAX_RATE:
                return f"sample_rate must be a whole number of Hz from {MIN_RATE} to {MAX_RATE}."
            self.rate = int(rate)
        encoding = query.get("encoding")
        if encoding is not None:
            if encoding not in _ENCODING_NAMES:
                return f"Unknown encoding {encoding!r}; use f32le (eaRS's) or pcm_s16le."
            self.encoding_name = _ENCODING_NAMES[encoding]
        return None

    def _set_language(self, code) -> str | None:
        """Report *code* from now on (``auto``: detect it again); a problem, or None."""
        if not isinstance(code, str) or not code.strip():
            return "lang must be a language code such as \"en\", or \"auto\"."
        code = code.strip().lower()
        if code == "auto":
            self.language = None
            return None
        if problem := self.link.unsupported_language(code):
            return problem
        self.language = code
        return None

    def live_settings(self, message: dict) -> LiveSettings:
        settings = stream_settings(message)
        return LiveSettings(streaming=settings.streaming, certain_words=True)

    # --- from the client ----------------------------------------------------------------------

    async def _command(self, text: str) -> None:
        try:
            message = client_json(text)
        except BadJson as exc:
            if text.lstrip().startswith(("{", "[")):
                return await self._say_error(f"The command could not be read: {exc}.")
            message = text.strip()  # eaRS's older clients send the bare word
        kind = message.get("type") if isinstance(message, dict) else message
        if kind in ("stop", "end"):  # "end": Dalston's clients
            self._stop_asked()
        elif kind == "setlanguage" and isinstance(message, dict):
            if problem := self._set_language(message.get("lang", message.get("language"))):
                await self._say_error(problem)
        else:
            await self._say_error("Unknown command; eaRS's commands are {\"type\": \"stop\"} (or stop) "
                                  "and {\"type\": \"setlanguage\", \"lang\": \"en\"}; audio goes in binary frames.")

    def _stop_asked(self) -> None:
        """The last final, then close: at once if no stream runs, else when the engine has
        stopped it."""
        self.stop_asked = True
        if self.stream is not None:
            self._stop_stream()
        elif not self.streams:
            self._close_soon()

    async def _audio(self, data: bytes) -> None:
        if self.stop_asked:
            return  # the connection is closing: audio after the stop is not recognised
        if self.stream is None:
            start = {"action": "start", "sample_rate": self.rate, "encoding": self.encoding_name, "endpointing": True}
            await self._start(start | ({"language": self.language} if self.language else {}))
            if self.stream is None:
                return
        await super()._audio(data)

    # --- from the engine ----------------------------------------------------------------------

    def _queue_event(self, event: Partial | Final | ErrorEvent | Notice | StreamStopped) -> None:
        match event:
            case Partial(utterance, _, certain):
                self._words(utterance, certain)
            case Final():
                self._final(event)
            case ErrorEvent(message):
                self.outbox.put_nowait({"type": "error", "message": message})
            case StreamStopped():
                self._stopped(event)
            case Notice():
                pass  # eaRS's protocol has no such message, and its clients take only its own

    def _words(self, utterance: int, certain: tuple[Word, ...]) -> None:
        if utterance != self.utterance:
            self.utterance, self.words_sent = utterance, []
        for word in certain[len(self.words_sent):]:
            self.outbox.put_nowait(_word(word, "word"))
            self.words_sent.append(word)

    def _final(self, event: Final) -> None:
        words = event.input_words
        sent = self.words_sent if event.utterance == self.utterance else []
        if [w.text for w in sent] != [w.text for w in words[:len(sent)]]:
            logger.warning("A stream's final text differs from the words already sent (its streaming failed)")
        for word in words[len(sent):]:
            self.outbox.put_nowait(_word(word, "word"))
        self.utterance, self.words_sent = None, []
        if not event.text and event.reason is not FinalReason.STOP:
            return  # a pause after nothing said: no final (the stop always has one)
        lang = self.language_of(event.text)
        if lang is not None and self.language is None:  # detected, not named by the client
            self.outbox.put_nowait({"type": "language_detected", "lang": lang.code, "language": lang.code,
                                    "confidence": round(lang.confidence, 3)})
        code = lang.code if lang is not None else None
        if event.text:
            self.outbox.put_nowait({"type": "segment", "text": event.text, "start_time": round(event.start, 3),
                                    "end_time": round(event.end, 3), "lang": code})
        self.outbox.put_nowait({"type": "final", "text": event.text, "words": [_word(w) for w in words],
                                "lang": code, "start_time": round(event.start, 3), "end_time": round(event.end, 3)})

    def on_stopped(self) -> None:
        if self.stop_asked and not self.streams:
            self._close_soon()

    def _close_soon(self) -> None:
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close_when_sent())

    async def _close_when_sent(self) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self.outbox.join()
            await self.ws.close(code=1000)


def _word(word: Word, kind: str | None = None) -> dict:
    document = {"word": word.text, "start_time": round(word.start, 3), "end_time": round(word.end, 3)}
    return {"type": kind, **document} if kind else document
