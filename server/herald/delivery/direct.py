"""What the two direct sinks share: the connection's asyncio protocol after uvicorn hands it over.

Both fast paths (the SSE stream, ``sse.TransportSink``, and the WebSocket,
``websocket.SocketSink``) end the request's task once the stream is open and
write each frame straight to the transport. What that needs is the same for
both: take bytes only while the transport is writable (the bus's direct
write), wait for the client to drain when it is not (the loop's flush), and
tell the gateway once when the connection is gone. The framing, what is read
from the client and how the server closes are each transport's own.
"""
from __future__ import annotations

import asyncio
from typing import Callable


def nothing() -> None:
    pass


class DirectSink(asyncio.Protocol):
    __slots__ = ("closed", "on_close", "_transport", "_paused", "_drained")

    def __init__(self, transport: asyncio.Transport, paused: bool) -> None:
        self.closed = False
        self.on_close: Callable[[], None] = nothing
        self._transport = transport
        self._paused = paused
        self._drained: asyncio.Future[None] | None = None

    # asyncio.Protocol: what the transport tells the stream.
    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_flush()

    def eof_received(self) -> bool:
        return False  # the client half-closed: close, and connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            self._wake_flush()
            self.on_close()

    # Sink: what the gateway tells the stream.
    def write(self, data: bytes) -> bool:
        if self._paused or self.closed:
            return False
        self._transport.write(data)
        return True

    async def flush(self, frames: list[bytes]) -> None:
        if self.closed:
            return
        # Write first, then wait: bytes already popped from the queue must reach the
        # transport before any later direct write does.
        self._transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
        if self._paused and not self.closed:
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained

    def _wake_flush(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None
