"""The HTTP server Herald runs under: uvicorn's httptools protocol, with the two bounds it lacks.

uvicorn's httptools protocol has no deadline for a request's head and no
limit on its size: 200 connections that sent half a request line were all
still open after 10 s, and a 1 MB header was read before the 401. So a
connection gets ``HERALD_HEADER_TIMEOUT_SECONDS`` to send each request's
head (answered 408 and closed after it) and ``HERALD_MAX_HEADER_BYTES`` for
it (431 beyond). The body is bounded by Litestar (``HERALD_MAX_BODY_BYTES``);
idle keep-alive connections by uvicorn's own timer. A proxy in front
(docs/operations.md) may bound both again, earlier.

Once the head is in, nothing here is on the path: the SSE stream's hand-over
(delivery/sse.py) and the WebSocket upgrade see uvicorn's own protocol.

And on shutdown uvicorn closes every open WebSocket with 1012 before the app
is told to stop, so Herald's own "reconnect" close (4000, docs/transports.md)
never went out: ``GoingAwayWebSocketProtocol`` sends 4000 instead. Clients
reconnect on either; the documented code is now the one on the wire.
"""
from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from herald.delivery.websocket import CLOSE_GOING_AWAY
from herald.settings import load_settings


@functools.cache
def _bounds() -> tuple[float, int]:
    # The workers of ``herald serve --workers N`` build their settings from the environment, as the app does.
    settings = load_settings()
    return settings.header_timeout_seconds, settings.max_header_bytes


def _answer(status: bytes, error: str, message: str) -> bytes:
    body = b'{"error":"%b","message":"%b"}' % (error.encode(), message.encode())
    return (b"HTTP/1.1 %b\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%b"
            % (status, len(body), body))


TOO_SLOW = _answer(b"408 Request Timeout", "request_timeout", "The request's headers did not arrive in time.")
TOO_LARGE = _answer(b"431 Request Header Fields Too Large", "request_headers_too_large",
                    "The request's headers are too large.")


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._head_deadline: asyncio.TimerHandle | None = None
        self._refused = False  # the parser goes on calling back within the same chunk: ignore the rest

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head()

    def on_message_begin(self) -> None:
        if self._refused:
            return
        super().on_message_begin()
        self._start_head()  # a keep-alive connection's next request: a fresh deadline and budget

    def on_url(self, url: bytes) -> None:
        if not self._refused and self._count(len(url)):
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._refused and self._count(len(name) + len(value) + 4):
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop_head()
        if not self._refused:
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head()
        super().connection_lost(exc)

    def _start_head(self) -> None:
        self._stop_head()
        self._head_bytes = 0
        timeout, _ = _bounds()
        self._head_deadline = self.loop.call_later(timeout, self._refuse, TOO_SLOW)

    def _stop_head(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _count(self, size: int) -> bool:
        self._head_bytes += size
        if self._head_bytes <= _bounds()[1]:
            return True
        self._refuse(TOO_LARGE)
        return False

    def _refuse(self, answer: bytes) -> None:
        self._refused = True
        self._stop_head()
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()


class GoingAwayWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's default WebSocket protocol (``--ws auto``), saying 4000 where it says 1012 on shutdown."""

    def shutdown(self) -> None:
        if self.close_sent or not self.handshake_complete:
            super().shutdown()
            return
        self.stop_keepalive()
        self.queue.put_nowait({"type": "websocket.disconnect", "code": CLOSE_GOING_AWAY})
        self.conn.send_close(CLOSE_GOING_AWAY, "server restarting")
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.transport.close()
