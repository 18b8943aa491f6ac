"""Server-Sent Events: the encoder the subscribe loop writes with.

Payloads are msgspec JSON, which escapes every control character, so no field
value can add a line to a frame: framing cannot be injected.
"""
from __future__ import annotations


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
