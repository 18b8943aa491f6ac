"""What a transport supplies to the one subscribe loop: an encoder for its frames, a sink for its bytes.

SSE (``sse.py``), WebSocket (``websocket.py``) implement both; the gateway and
``Connection`` never know which transport they serve.
"""
from __future__ import annotations

from typing import Callable, Protocol


class Encoder(Protocol):
    """What a transport supplies: bytes for each kind of event."""

    def opening(self, retry_ms: int, cursor: int, unread: int, reset: bool) -> list[bytes]: ...
    def notification(self, cursor: int, payload: bytes) -> bytes: ...
    def change(self, kind: str, cursor: int | None, payload: bytes) -> bytes:
        """An inbox change (``read``, ...) with the cursor it moves to; None: outside the inbox order."""
    def channel(self, payload: bytes) -> bytes: ...
    def broadcast(self, payload: bytes) -> bytes:
        """A broadcast's notification, without a cursor: the same bytes for every connection."""
    def heartbeat(self) -> bytes: ...


class Sink(Protocol):
    """Where a transport's bytes go.

    ``write`` is the fast path: called synchronously from the bus, it either
    takes the bytes now (True) or refuses (False: not writable, e.g. a full
    socket buffer, or a transport that can only be awaited) and the event
    waits in the queue. ``flush`` is the loop's path and may wait for the
    client. ``closed`` turns true when the client leaves, and then the sink
    calls ``on_close`` once; ``close`` ends the stream from the server's side,
    telling the client why: ``going_away`` (reconnect, e.g. a shutdown) or
    ``too_many_connections`` (do not reconnect).
    """

    closed: bool
    on_close: Callable[[], None]

    def write(self, data: bytes) -> bool: ...
    async def flush(self, frames: list[bytes]) -> None: ...
    def close(self, reason: str = "going_away") -> None: ...
