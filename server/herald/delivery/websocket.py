"""WebSocket transport: the same events as the SSE stream, as JSON messages with a ``type``.

This module is the protocol (frames, close codes, client messages); where the
frames go is ``websocket_sinks``, and the route that accepts a socket and
answers its messages is ``herald.api.websocket``.

Protocol (documented in docs/transports.md):

- client, first message: ``{"type": "resume", "cursor": "12"}`` (or without a
  cursor: start from now); server: ``ready`` with ``cursor`` and ``unreadCount``,
  then ``notification`` (``cursor``, ``notification``), ``read``, ``reset``,
  ``heartbeat``.
- client, later: ``read`` (``ids``), ``read-all``, ``ping`` (answered ``pong``),
  ``ack`` (``ids`` delivered: stored as receipts, see receipts.py), ``subscribe`` / ``unsubscribe``
  (``channels``: live channels, also accepted in ``resume``); server: ``channel``
  (``event``) for each live event.
- close codes: 4000-4099 mean "reconnect" (with backoff; 4029: too many new
  connections, the reason says after how many seconds), 4400-4499 mean
  "do not reconnect" until something changes (credentials, the client's code).

Transport-level liveness: a ping every 30 s, dead without a pong within 10 s
(``herald serve`` sets it; ``SocketSink`` keeps it once the socket is its own).
"""
from __future__ import annotations

from typing import Annotated

import msgspec

from herald.receipts import AckIds
from herald.wire import MAX_CHANNELS, change_json

CLOSE_GOING_AWAY = 4000  # reconnect: the server is restarting
CLOSE_RATE_LIMITED = 4029  # reconnect later: too many new connections (HTTP's 429); the reason says when
CLOSE_PROTOCOL = 4400  # do not reconnect: the client sent something this protocol does not allow
CLOSE_UNAUTHORIZED = 4401  # do not reconnect: sign in again first
CLOSE_FORBIDDEN_ORIGIN = 4403  # do not reconnect: the page's origin is not allowed (HERALD_CORS_ORIGINS)
CLOSE_TOO_MANY = 4429  # do not reconnect: the user opened more connections than allowed; this, the oldest, ends
FIRST_MESSAGE_SECONDS = 10


class WSEncoder:
    __slots__ = ()

    def opening(self, retry_ms: int, cursor: int, unread: int, reset: bool) -> list[bytes]:
        ready = b'{"type":"ready","cursor":"%d","unreadCount":%d,"retryMs":%d}' % (cursor, unread, retry_ms)
        return [ready, self.reset(cursor)] if reset else [ready]

    def notification(self, cursor: int, payload: bytes) -> bytes:
        return b'{"type":"notification","cursor":"%d","notification":%b}' % (cursor, payload)

    def change(self, kind: str, cursor: int | None, payload: bytes) -> bytes:
        return change_json(kind, cursor, payload)

    def reset(self, cursor: int) -> bytes:
        return b'{"type":"reset","cursor":"%d"}' % cursor

    def channel(self, payload: bytes) -> bytes:
        return b'{"type":"channel","event":%b}' % payload

    def broadcast(self, payload: bytes) -> bytes:
        # No cursor: a broadcast takes its place in the inbox's order only once the inbox copies it (broadcasts.py).
        return b'{"type":"notification","notification":%b}' % payload

    def heartbeat(self) -> bytes:
        return b'{"type":"heartbeat"}'


class FramedWSEncoder(WSEncoder):
    """The same messages as whole WebSocket text frames: exactly the bytes ``SocketSink`` writes.

    A live event goes to every subscriber of its channel in a row: it is framed once and the same
    bytes are handed to each (``_last``), as ``sse.ChunkedSSEEncoder`` does for streams.
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: tuple[bytes, bytes] = (b"", b"")

    def opening(self, retry_ms: int, cursor: int, unread: int, reset: bool) -> list[bytes]:
        return [text_frame(message) for message in super().opening(retry_ms, cursor, unread, reset)]

    def notification(self, cursor: int, payload: bytes) -> bytes:
        return text_frame(super().notification(cursor, payload))

    def change(self, kind: str, cursor: int | None, payload: bytes) -> bytes:
        return text_frame(super().change(kind, cursor, payload))

    def channel(self, payload: bytes) -> bytes:
        last = self._last
        if last[0] is not payload:
            last = self._last = (payload, text_frame(super().channel(payload)))
        return last[1]

    def broadcast(self, payload: bytes) -> bytes:
        last = self._last
        if last[0] is not payload:
            last = self._last = (payload, text_frame(super().broadcast(payload)))
        return last[1]

    def heartbeat(self) -> bytes:
        return _HEARTBEAT


def text_frame(message: bytes) -> bytes:
    """One unmasked, unfragmented text frame (RFC 6455 section 5.2): what a server sends.

    Written here rather than with ``websockets.frames.Frame.serialize``, which gives the same bytes
    (tests/unit/delivery/test_websocket.py) in about 8 times the time: it is called once per frame.
    """
    size = len(message)
    if size < 126:
        return b"\x81%c%b" % (size, message)
    if size < 65536:
        return b"\x81\x7e%b%b" % (size.to_bytes(2, "big"), message)
    return b"\x81\x7f%b%b" % (size.to_bytes(8, "big"), message)


_HEARTBEAT = text_frame(WSEncoder().heartbeat())


class ClientMessage(msgspec.Struct, tag_field="type", forbid_unknown_fields=True):
    pass


ChannelNames = Annotated[list[Annotated[str, msgspec.Meta(max_length=128)]], msgspec.Meta(max_length=MAX_CHANNELS)]


class Resume(ClientMessage, tag="resume"):
    cursor: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    channels: ChannelNames = []


class Subscribe(ClientMessage, tag="subscribe"):
    channels: ChannelNames


class Unsubscribe(ClientMessage, tag="unsubscribe"):
    channels: ChannelNames


class Read(ClientMessage, tag="read"):
    ids: Annotated[list[Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(min_length=1, max_length=500)]


class ReadAll(ClientMessage, tag="read-all"):
    pass


class Ping(ClientMessage, tag="ping"):
    pass


class Ack(ClientMessage, tag="ack"):
    ids: AckIds


WS_ENCODER = WSEncoder()
FRAMED_WS_ENCODER = FramedWSEncoder()  # shared by every direct socket: its live-event memo is what pays
decode_client_message = msgspec.json.Decoder(Resume | Read | ReadAll | Ping | Ack | Subscribe | Unsubscribe).decode
