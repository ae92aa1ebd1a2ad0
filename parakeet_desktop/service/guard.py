"""The checks in front of every route, as plain ASGI middleware: a request or WebSocket
handshake from a foreign Host or a browser Origin is refused (403) before it reaches the app, so is
one without the token (401; a WebSocket handshake 403) but for ``/health``; an upload larger than
the limit is refused with 413, whether it says its length or not; a body that stops arriving is
given up with 408.

A request refused before its body was read (these refusals, a missing token, a full queue) has
the rest of its body read and dropped first, up to a few megabytes and a couple of seconds: a
client that is still sending when the connection closes may lose the answer (the close resets
the connection, and the reset can overtake the answer; seen with 200 concurrent uploads). Past
that, the answer goes with ``Connection: close``: without it the server would read the rest of
the body to keep the connection for the next request, and a client that declares a terabyte
would be read for as long as it sends (4 GB in 5 s on loopback, measured).
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import parse_qs

from .ears import EARS_PATHS
from .errors import ApiError, envelope
from .security import WITHOUT_TOKEN, Guard, bearer, is_loopback, token_matches

logger = logging.getLogger(__name__)


# What is read and dropped of a refused request's body before its answer goes.
LINGER_BYTES = 4 << 20
LINGER_SECONDS = 2.0
# Answered without the token (it shows nothing private without it: see app.py).
OPEN_PATHS = ("/health",)
# The WebSocket streams, which ``streams_without_token`` opens to clients on this machine.
STREAM_PATHS = ("/v1/stream", *EARS_PATHS)
NO_TOKEN = ("A valid token is needed: send “Authorization: Bearer <token>”. The token is in the file "
            "api-token in the app's settings folder.")


class Guarded:
    """Host and Origin checks for HTTP and WebSocket, the token, and the upload's size and pace,
    before routing. *body_timeout*: seconds the body may pause before the request is given up."""

    def __init__(self, app, guard: Guard, token: str, max_body: int, body_timeout: float = 60.0,
                 streams_without_token: bool = False) -> None:
        self.app = app
        self.streams_without_token = streams_without_token
        self.guard = guard
        self.token = token
        self.max_body = max_body
        self.body_timeout = body_timeout

    def _needs_no_token(self, scope) -> bool:
        if scope["path"] in OPEN_PATHS:
            return True
        client = scope.get("client")
        return (self.streams_without_token and scope["type"] == "websocket" and scope["path"] in STREAM_PATHS
                and client is not None and is_loopback(client[0]))

    def _has_token(self, scope, headers: dict) -> bool:
        given = bearer(headers.get("authorization"))
        if given is None and scope["type"] == "websocket":  # browsers cannot set headers on a WebSocket
            given = next(iter(parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [])), None)
        return token_matches(given, self.token)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body = _Body(receive, headers, self.max_body, self.body_timeout)
        if scope["type"] == "http":
            send = body.closing_unless_read(send)
        why = None
        if not self.guard.host_allowed(headers.get("host")):
            why = "This service answers only requests addressed to localhost or its own address."
        elif not self.guard.origin_allowed(headers.get("origin")):
            why = (f"Requests from web pages ({headers.get('origin')}) are refused unless the user "
                   "allows that origin.")
        if why is not None:
            logger.warning("Refused a %s request: %s", scope["type"], why)
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008, "reason": why[:120]})
            return await _send_json(send, 403, envelope(403, why, "forbidden"))
        if not self._has_token(scope, headers):
            if not self._needs_no_token(scope):
                if scope["type"] == "websocket":  # closing before accepting answers the handshake with 403
                    return await send({"type": "websocket.close", "code": 1008, "reason": "a valid token is needed"})
                return await _send_json(send, 401, envelope(401, NO_TOKEN, "invalid_api_key"),
                                        [(b"www-authenticate", b"Bearer")])
            scope.setdefault("state", {})[WITHOUT_TOKEN] = True  # for the stream's share (stream.py)
        if scope["type"] == "http":
            length = headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body:
                return await _send_json(send, 413, _too_large(self.max_body))
            receive = body.receive
        return await self.app(scope, receive, send)


class _Body:
    """A request's body as the app reads it: counted against the limit, timed between chunks,
    and remembered as read to its end or not."""

    def __init__(self, receive, headers: dict, limit: int, timeout: float) -> None:
        self._receive = receive
        self.limit = limit
        self.timeout = timeout
        self.seen = 0
        # A request that declares no body has none to read.
        self.complete = headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers

    async def receive(self):
        if self.complete:  # what is left to hear of is the client going away: no timeout
            return await self._receive()
        try:
            message = await asyncio.wait_for(self._receive(), self.timeout)
        except TimeoutError:
            raise ApiError(408, f"The upload stopped arriving for {self.timeout:.0f} s; the request was given up.",
                           code="request_timeout") from None
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                raise ApiError(413, _too_large(self.limit)["error"]["message"], code="file_too_large", param="file")
            self.complete = not message.get("more_body", False)
        else:
            self.complete = True
        return message

    def closing_unless_read(self, send):
        async def wrapped(message):
            if message["type"] == "http.response.start" and not self.complete:
                await self._drop_rest()
                if not self.complete:
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        return wrapped

    async def _drop_rest(self) -> None:
        """Read and drop what is left of the body, within LINGER_BYTES and LINGER_SECONDS."""
        dropped = 0
        try:
            async with asyncio.timeout(LINGER_SECONDS):
                while not self.complete and dropped < LINGER_BYTES:
                    message = await self._receive()
                    dropped += len(message.get("body", b""))
                    self.complete = message["type"] != "http.request" or not message.get("more_body", False)
        except TimeoutError:
            pass


def _too_large(limit: int) -> dict:
    size = f"{limit / 2**20:.0f} MB" if limit >= 2**20 else f"{limit / 1024:.0f} KB"
    return envelope(413, f"The upload is larger than this service accepts ({size}).", "file_too_large", "file")


async def _send_json(send, status: int, document: dict, headers: list | None = None) -> None:
    body = json.dumps(document).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
