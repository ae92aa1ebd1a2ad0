"""The checks in front of every route, as plain ASGI middleware: a request or WebSocket
handshake from a foreign Host or a browser Origin is refused (403) before it reaches the app, and
an upload larger than the limit is refused with 413, whether it says its length or not."""

from __future__ import annotations

import json
import logging

from .errors import ApiError, envelope
from .security import Guard

logger = logging.getLogger(__name__)


class Guarded:
    """Host and Origin checks for HTTP and WebSocket, and the upload size limit, before routing."""

    def __init__(self, app, guard: Guard, max_body: int) -> None:
        self.app = app
        self.guard = guard
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
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
        if scope["type"] == "http":
            length = headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body:
                await _drain(receive)
                return await _send_json(send, 413, _too_large(self.max_body))
            receive = _counting(receive, self.max_body)
        return await self.app(scope, receive, send)


def _too_large(limit: int) -> dict:
    size = f"{limit / 2**20:.0f} MB" if limit >= 2**20 else f"{limit / 1024:.0f} KB"
    return envelope(413, f"The upload is larger than this service accepts ({size}).", "file_too_large", "file")


def _counting(receive, limit: int):
    seen = 0

    async def wrapped():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise ApiError(413, _too_large(limit)["error"]["message"], code="file_too_large", param="file")
        return message

    return wrapped


async def _drain(receive) -> None:
    """Read a refused body to its end, so the client hears the answer rather than a reset."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return


async def _send_json(send, status: int, document: dict) -> None:
    body = json.dumps(document).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
