"""Server-Sent Events: the encoder, and the sinks that put frames on the wire.

Payloads are msgspec JSON, which escapes every control character, so no field
value can add a line to a frame: framing cannot be injected.

Why the stream leaves the ASGI path once it is open: an ASGI send per event per
connection, plus the request's task and Litestar's and uvicorn's per-request
objects held for the life of the stream, are what limit a Python SSE server
(../shared/bench/README.md). The request itself goes through Litestar as any
other (authentication, validation, errors, headers). Then, under uvicorn's
httptools protocol, ``TransportSink.take_over`` makes the sink the
connection's asyncio protocol: the request's task ends, and the gateway writes
each chunk of the chunked body straight to the transport, with the
transport's own flow control. What stays per idle stream is the transport,
the sink and the gateway's ``Connection``. Under any other server ``AsgiSink``
keeps to plain ASGI, with the same contract and fewer events per second.
"""
from __future__ import annotations

import asyncio
import itertools
from typing import Any, Awaitable, Callable

from litestar import Request
from litestar.response import Stream
from litestar.response.streaming import ASGIStreamingResponse
from litestar.types import Receive, Scope, Send

from herald.delivery.direct import DirectSink, nothing
from herald.tasks import cancel


class SSEEncoder:
    __slots__ = ()

    def opening(self, retry_ms: int, cursor: int, unread: int, reset: bool) -> list[bytes]:
        # One write, and under chunked framing one chunk: a client reads ready and reset together.
        ready = b'retry: %d\nevent: ready\nid: %d\ndata: {"unreadCount":%d}\n\n' % (retry_ms, cursor, unread)
        return [ready + self.reset(cursor) if reset else ready]

    def notification(self, cursor: int, payload: bytes) -> bytes:
        return b"event: notification\nid: %d\ndata: %b\n\n" % (cursor, payload)

    def change(self, kind: str, cursor: int | None, payload: bytes) -> bytes:
        if cursor is None:
            return b"event: %b\ndata: %b\n\n" % (kind.encode(), payload)
        return b"event: %b\nid: %d\ndata: %b\n\n" % (kind.encode(), cursor, payload)

    def reset(self, cursor: int) -> bytes:
        return b'event: reset\nid: %d\ndata: {"reason":"cursor_expired"}\n\n' % cursor

    def channel(self, payload: bytes) -> bytes:
        # No id: a live event does not move the resume cursor, and is never replayed.
        return b"event: channel\ndata: %b\n\n" % payload

    def broadcast(self, payload: bytes) -> bytes:
        # No id either: a broadcast reaches the inbox's order when the user's inbox copies it (broadcasts.py),
        # and a resume then brings it at its own cursor; the client drops that repeat by id.
        return b"event: notification\ndata: %b\n\n" % payload

    def heartbeat(self) -> bytes:
        return b": keep-alive\n\n"


class ChunkedSSEEncoder(SSEEncoder):
    """The same frames in HTTP/1.1 chunked framing: exactly the bytes ``TransportSink`` writes.

    A notification is framed in one format (no second copy to add the chunk header), and a live
    event, which goes to every subscriber of its channel in a row, is framed once and the same
    bytes are handed to each (``_last``).
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: tuple[bytes, bytes] = (b"", b"")

    def opening(self, retry_ms: int, cursor: int, unread: int, reset: bool) -> list[bytes]:
        return [chunk(frames) for frames in super().opening(retry_ms, cursor, unread, reset)]

    def notification(self, cursor: int, payload: bytes) -> bytes:
        size = _NOTIFICATION_FRAME + len(str(cursor)) + len(payload)
        return b"%x\r\nevent: notification\nid: %d\ndata: %b\n\n\r\n" % (size, cursor, payload)

    def change(self, kind: str, cursor: int | None, payload: bytes) -> bytes:
        return chunk(super().change(kind, cursor, payload))

    def channel(self, payload: bytes) -> bytes:
        last = self._last
        if last[0] is not payload:
            last = self._last = (payload, chunk(super().channel(payload)))
        return last[1]

    def broadcast(self, payload: bytes) -> bytes:
        last = self._last
        if last[0] is not payload:
            last = self._last = (payload, chunk(super().broadcast(payload)))
        return last[1]

    def heartbeat(self) -> bytes:
        return _HEARTBEAT


def chunk(frame: bytes) -> bytes:
    """One HTTP/1.1 chunk (RFC 9112 section 7.1), as uvicorn would have framed it."""
    return b"%x\r\n%b\r\n" % (len(frame), frame)


_NOTIFICATION_FRAME = len(b"event: notification\nid: \ndata: \n\n")
_HEARTBEAT = chunk(SSEEncoder().heartbeat())
SSE_ENCODER = SSEEncoder()
CHUNKED_SSE_ENCODER = ChunkedSSEEncoder()  # shared by every direct stream: its live-event memo is what pays


def closing_frame(reason: str) -> bytes:
    """The last event of a stream the server ends for a reason the client must act on (not a restart).

    ``too_many_connections``: the user opened more than ``HERALD_CONNECTIONS_PER_USER``
    streams; this, the oldest, was closed, and the client should not reconnect it.
    """
    return b"" if reason == "going_away" else b'event: closed\ndata: {"reason":"%b"}\n\n' % reason.encode()

SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    # nginx and friends would otherwise buffer the stream.
    "X-Accel-Buffering": "no",
}


class TransportSink(DirectSink):
    """The stream's connection after the hand-over: chunks (``ChunkedSSEEncoder``) written straight to the transport."""

    __slots__ = ("_head",)

    def __init__(self, transport: asyncio.Transport, paused: bool, head: bytes = b"") -> None:
        super().__init__(transport, paused)
        self._head = head  # the response head uvicorn formatted, held for the first write (HeldHead)

    @classmethod
    def take_over(cls, send: Send, head: bytes = b"") -> "TransportSink | None":
        """Become the protocol of the connection behind uvicorn's ``send``, once the headers are formatted.

        The response is marked complete for uvicorn, which forgets the connection
        (as it does for a WebSocket upgrade); from here on this sink owns it.
        ``head``: the status line and headers, not yet written (``HeldHead``).
        None: not uvicorn's httptools protocol with a chunked body; use ``AsgiSink``.
        """
        cycle = uvicorn_cycle(send)
        if cycle is None or cycle.chunked_encoding is not True or not cycle.response_started or cycle.disconnected:
            return None
        protocol = getattr(cycle.on_response, "__self__", None)
        if protocol is None or not hasattr(protocol, "connections"):
            return None
        transport: asyncio.Transport = cycle.transport
        sink = cls(transport, cycle.flow.write_paused, head)
        cycle.response_complete = True
        cycle.keep_alive = False
        protocol.connections.discard(protocol)
        transport.set_protocol(sink)
        transport.resume_reading()  # a closed socket must reach connection_lost
        return sink

    def data_received(self, data: bytes) -> None:
        pass  # nothing is read from a stream; a pipelined request behind it is never answered

    def write(self, data: bytes) -> bool:
        if self._head and not (self._paused or self.closed):
            data = self._held() + data
        return super().write(data)

    async def flush(self, frames: list[bytes]) -> None:
        await super().flush([self._held(), *frames] if self._head else frames)

    def close(self, reason: str = "going_away") -> None:
        """End the stream from the server's side: why (unless the client should just reconnect), the last chunk."""
        if not self.closed:
            final = closing_frame(reason)
            self._transport.write(self._held() + (chunk(final) if final else b"") + b"0\r\n\r\n")
            self._transport.close()
            self.connection_lost(None)  # closed for the gateway now: nothing more is written

    def _held(self) -> bytes:
        head, self._head = self._head, b""
        return head


class AsgiSink:
    """Plain ASGI: every flush is one ``http.response.body`` message; no direct writes."""

    __slots__ = ("closed", "on_close", "ended", "final", "_send")

    def __init__(self, send: Send) -> None:
        self.closed = False
        self.on_close: Callable[[], None] = nothing
        self.ended = asyncio.Event()
        self.final = b""  # written before the end of the body when the server ends the stream
        self._send = send

    def write(self, data: bytes) -> bool:
        return False

    async def flush(self, frames: list[bytes]) -> None:
        if not self.closed:
            await self._send({"type": "http.response.body", "body": b"".join(frames), "more_body": True})

    def close(self, reason: str = "going_away") -> None:
        self.final = closing_frame(reason)
        self.disconnected()

    def disconnected(self) -> None:
        if not self.closed:
            self.closed = True
            self.ended.set()
            self.on_close()


Open = Callable[["TransportSink | AsgiSink"], Awaitable[Any]]


RAW_SEND = "herald.raw_send"


def uvicorn_cycle(send: Send | None) -> Any:
    """uvicorn's httptools request cycle behind ``send`` (the app's innermost send), or None under another server."""
    cycle = getattr(send, "__self__", None)
    return cycle if type(cycle).__module__ == "uvicorn.protocols.http.httptools_impl" else None


class HeldHead:
    """Stands in for uvicorn's transport while it formats the response head, which is then written with the opening.

    The head alone was one socket write per stream open, and on loopback a write is
    also the receiver's delivery: 14 % of the event loop's time in a storm of opens
    (py-spy). Held, it goes out in the same write as ``ready``, a few milliseconds
    later, once the start is read. uvicorn's ``send`` only calls ``write`` on it.
    """

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data


class _SSEASGIResponse(ASGIStreamingResponse):
    __slots__ = ("open", "raw_send", "head")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.raw_send = scope.get(RAW_SEND)  # type: ignore[attr-defined]
        self.head = b""  # type: ignore[attr-defined]
        await super().__call__(scope, receive, send)

    async def start_response(self, send: Send) -> None:
        cycle = uvicorn_cycle(self.raw_send)
        if cycle is None or self.is_head_response:
            await super().start_response(send)
            return
        transport, held = cycle.transport, HeldHead()
        cycle.transport = held
        try:
            await super().start_response(send)  # through every middleware, as any response's head
        finally:
            cycle.transport = transport
        self.head = held.data  # type: ignore[attr-defined]

    async def send_body(self, send: Send, receive: Receive) -> None:
        direct = TransportSink.take_over(self.raw_send, self.head) if self.raw_send is not None else None
        if direct is None and self.head:
            cycle = uvicorn_cycle(self.raw_send)
            if not cycle.disconnected:
                cycle.transport.write(self.head)  # the body goes through ASGI after all: the head first
        if direct is not None:
            await self.open(direct)  # the gateway serves it from here; this request's task ends
            return
        sink = AsgiSink(send)
        watcher = asyncio.ensure_future(_until_disconnect(receive, sink))
        try:
            if await self.open(sink) is not None:
                await sink.ended.wait()
        finally:
            await cancel([watcher])
            sink.disconnected()
        await send({"type": "http.response.body", "body": sink.final, "more_body": False})


async def _until_disconnect(receive: Receive, sink: AsgiSink) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    sink.disconnected()


class SSEStream(Stream):
    """A ``Stream`` (so OpenAPI describes it as one) whose body the gateway writes."""

    __slots__ = ("open",)

    def __init__(self, open: Open) -> None:
        super().__init__((), media_type="text/event-stream", headers=SSE_HEADERS)
        self.open = open

    def to_asgi_response(self, app: Any, request: Request, *, background: Any = None, cookies: Any = None,
                         encoded_headers: Any = None, headers: dict[str, str] | None = None,
                         is_head_response: bool = False, media_type: Any = None, status_code: int | None = None,
                         type_encoders: Any = None) -> _SSEASGIResponse:
        response = _SSEASGIResponse(
            iterator=(), background=self.background or background, content_length=0,
            cookies=self.cookies if cookies is None else itertools.chain(self.cookies, cookies),
            encoded_headers=encoded_headers, encoding=self.encoding,
            headers={**headers, **self.headers} if headers is not None else self.headers,
            is_head_response=is_head_response, media_type="text/event-stream", status_code=self.status_code or status_code,
        )
        response.open = self.open
        return response
