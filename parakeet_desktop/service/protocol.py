"""uvicorn's HTTP/1.1 protocol with a deadline for each request's head.

uvicorn has no such timeout (its keep-alive timer runs only between requests, and any byte
received resets it), so a client that sends its headers a byte at a time, or never finishes them,
holds a connection for as long as it likes: 200 such connections stayed open for 60 s when this
was measured. Here every request's head (request line and headers) must be complete within
*header_timeout* seconds of the connection opening, or of the previous response; otherwise the
client gets 408 and the connection is closed. The body has its own pace check (guard.py), and a
WebSocket, once upgraded, is not an HTTP connection any more.

Connections that have not sent a request yet are also capped (*max_silent*): past the cap, the
oldest of them is closed for each new one. Without it, a program on the machine that opens a
thousand connections and sends nothing fills uvicorn's connection limit, and for the ten seconds
of the head's deadline every client, token or not, gets 503. A client that means to talk sends
its request at once, so it is never the oldest for long.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                     b"connection: close\r\ncontent-length: 40\r\n\r\nThe request's headers came too slowly.\r\n")


def timely_h11(header_timeout: float, max_silent: int | None = None) -> type[H11Protocol]:
    """An H11Protocol class whose connections close when a request's head takes longer than
    *header_timeout* seconds, and of which at most *max_silent* wait for their first request."""
    silent: dict[H11Protocol, None] = {}  # the connections yet to send a whole head, oldest first

    class TimelyH11Protocol(H11Protocol):
        _head_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()
            if max_silent is not None:
                while len(silent) >= max_silent:
                    oldest = next(iter(silent))
                    del silent[oldest]
                    oldest.transport.close()
                silent[self] = None

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:  # the head is in (or the connection is upgraded)
                self._disarm()
                silent.pop(self, None)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._arm()  # kept alive: the next request's head has the same time

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            silent.pop(self, None)
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._head_deadline = self.loop.call_later(header_timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._head_deadline is not None:
                self._head_deadline.cancel()
                self._head_deadline = None

        def _too_slow(self) -> None:
            self._head_deadline = None
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return
            if self.conn.our_state is h11.IDLE:  # nothing of a response sent yet
                self.transport.write(_TIMEOUT_RESPONSE)
            self.transport.close()

    return TimelyH11Protocol
