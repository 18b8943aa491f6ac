"""Server-Sent Events: the encoder, and the sinks that put frames on the wire.

Payloads are msgspec JSON, which escapes every control character, so no field
value can add a line to a frame: framing cannot be injected.

Why the stream leaves the ASGI ``send()`` path: an ASGI send per event per
connection (plus a task switch to reach it) is what limits a Python SSE server
to about a third of raw socket writes (../shared/bench/README.md). Under
uvicorn's httptools protocol the response headers still go through ASGI, and
then ``TransportSink`` writes each chunk of the chunked body straight to the
connection's transport, framed exactly as uvicorn frames it, honouring
uvicorn's flow control; uvicorn writes the final chunk when the stream ends.
Under any other server ``AsgiSink`` keeps to plain ASGI, with the same
contract and fewer events per second.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any, Awaitable, Callable

from litestar import Request
from litestar.response import Stream
from litestar.response.streaming import ASGIStreamingResponse
from litestar.types import Receive, Scope, Send


class SSEEncoder:
    __slots__ = ()

    def opening(self, retry_ms: int, cursor: int, unread: int) -> bytes:
        return b'retry: %d\nevent: ready\nid: %d\ndata: {"unreadCount":%d}\n\n' % (retry_ms, cursor, unread)

    def notification(self, cursor: int, payload: bytes) -> bytes:
        return b"event: notification\nid: %d\ndata: %b\n\n" % (cursor, payload)

    def read(self, payload: bytes) -> bytes:
        return b"event: read\ndata: %b\n\n" % payload

    def reset(self, cursor: int) -> bytes:
        return b'event: reset\nid: %d\ndata: {"reason":"cursor_expired"}\n\n' % cursor

    def heartbeat(self) -> bytes:
        return b": keep-alive\n\n"


SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    # nginx and friends would otherwise buffer the stream.
    "X-Accel-Buffering": "no",
}


def _nothing() -> None:
    pass


class TransportSink:
    """Chunks written straight to uvicorn's transport (httptools protocol, chunked body)."""

    __slots__ = ("closed", "on_close", "_transport", "_flow")

    def __init__(self, transport: asyncio.Transport, flow: Any) -> None:
        self.closed = False
        self.on_close: Callable[[], None] = _nothing
        self._transport = transport
        self._flow = flow

    @classmethod
    def from_send(cls, send: Send) -> "TransportSink | None":
        cycle = getattr(send, "__self__", None)
        if type(cycle).__module__ != "uvicorn.protocols.http.httptools_impl":
            return None
        if cycle.chunked_encoding is not True or not cycle.response_started:  # type: ignore[union-attr]
            return None
        return cls(cycle.transport, cycle.flow)  # type: ignore[union-attr]

    def write(self, data: bytes) -> bool:
        if self.closed or self._flow.write_paused or self._transport.is_closing():
            return False
        self._transport.write(b"%x\r\n%b\r\n" % (len(data), data))
        return True

    async def flush(self, frames: list[bytes]) -> None:
        if self.closed or self._transport.is_closing():
            self.closed = True
            return
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        # Write first, then wait: bytes already popped from the queue must reach the
        # transport before any later direct write does.
        self._transport.write(b"%x\r\n%b\r\n" % (len(data), data))
        if self._flow.write_paused:
            await self._flow.drain()


class AsgiSink:
    """Plain ASGI: every flush is one ``http.response.body`` message; no direct writes."""

    __slots__ = ("closed", "on_close", "_send")

    def __init__(self, send: Send) -> None:
        self.closed = False
        self.on_close: Callable[[], None] = _nothing
        self._send = send

    def write(self, data: bytes) -> bool:
        return False

    async def flush(self, frames: list[bytes]) -> None:
        if not self.closed:
            await self._send({"type": "http.response.body", "body": b"".join(frames), "more_body": True})


Serve = Callable[["TransportSink | AsgiSink"], Awaitable[None]]


RAW_SEND = "herald.raw_send"


class _SSEASGIResponse(ASGIStreamingResponse):
    __slots__ = ("serve", "raw_send")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.raw_send = scope.get(RAW_SEND)  # type: ignore[attr-defined]
        await super().__call__(scope, receive, send)

    async def send_body(self, send: Send, receive: Receive) -> None:
        direct = TransportSink.from_send(self.raw_send) if self.raw_send is not None else None
        sink: TransportSink | AsgiSink = direct or AsgiSink(send)
        watcher = asyncio.ensure_future(_until_disconnect(receive, sink))
        try:
            await self.serve(sink)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if not sink.closed:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _until_disconnect(receive: Receive, sink: "TransportSink | AsgiSink") -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    sink.closed = True
    sink.on_close()


class SSEStream(Stream):
    """A ``Stream`` (so OpenAPI describes it as one) whose body is the gateway's subscribe loop."""

    __slots__ = ("serve",)

    def __init__(self, serve: Serve) -> None:
        super().__init__((), media_type="text/event-stream", headers=SSE_HEADERS)
        self.serve = serve

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
        response.serve = self.serve
        return response
