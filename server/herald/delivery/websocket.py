"""WebSocket transport: the same events as the SSE stream, as JSON messages with a ``type``.

This module is the protocol (frames, close codes, client messages); the route
that accepts a socket and dispatches its messages is ``herald.api.websocket``.

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

Transport-level liveness is uvicorn's: a ping every 30 s, dead without a pong
within 10 s (``herald serve`` configures it).
"""
from __future__ import annotations

import asyncio
from typing import Annotated, Callable

import msgspec
from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect

from herald.receipts import AckIds
from herald.wire import MAX_CHANNELS, change_json

CLOSE_GOING_AWAY = 4000  # reconnect: the server is restarting
CLOSE_RATE_LIMITED = 4029  # reconnect later: too many new connections (HTTP's 429); the reason says when
CLOSE_PROTOCOL = 4400  # do not reconnect: the client sent something this protocol does not allow
CLOSE_UNAUTHORIZED = 4401  # do not reconnect: sign in again first
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

    def heartbeat(self) -> bytes:
        return b'{"type":"heartbeat"}'


class WebSocketSink:
    """One WebSocket text message per frame; no direct writes (ASGI websocket send only)."""

    __slots__ = ("closed", "on_close", "_socket", "_closing")

    def __init__(self, socket: WebSocket) -> None:
        self.closed = False
        self.on_close: Callable[[], None] = lambda: None
        self._socket = socket
        self._closing: asyncio.Future[None] | None = None

    def write(self, data: bytes) -> bool:
        return False

    async def flush(self, frames: list[bytes]) -> None:
        try:
            for frame in frames:
                await self._socket.send_text(frame)
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.disconnected()

    def close(self, reason: str = "going_away") -> None:
        """The server ends the connection: "reconnect" after a shutdown or an error, else a final code."""
        if not self.closed:
            code = CLOSE_TOO_MANY if reason == "too_many_connections" else CLOSE_GOING_AWAY
            self._closing = asyncio.ensure_future(self._socket.close(code, reason))
            self.disconnected()

    def disconnected(self) -> None:
        if not self.closed:
            self.closed = True
            self.on_close()


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
decode_client_message = msgspec.json.Decoder(Resume | Read | ReadAll | Ping | Ack | Subscribe | Unsubscribe).decode
