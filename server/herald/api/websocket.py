"""The WebSocket route: accept, admit, authenticate, resume, then the client's messages until it leaves.

The protocol itself (frames, close codes, message types) is ``herald.delivery.websocket``; under
``herald serve`` the socket then leaves the ASGI path (``delivery.websocket_sinks.SocketSink``).
"""
from __future__ import annotations

import asyncio

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from herald.api.admission import Refusal, websocket_admission
from herald.api.auth import require_subscriber, services
from herald.api.origin import origin_allowed
from herald.delivery.connection import Connection
from herald.delivery.websocket import (
    CLOSE_FORBIDDEN_ORIGIN,
    CLOSE_PROTOCOL,
    CLOSE_RATE_LIMITED,
    CLOSE_UNAUTHORIZED,
    FIRST_MESSAGE_SECONDS,
    FRAMED_WS_ENCODER,
    WS_ENCODER,
    Ack,
    Ping,
    Read,
    ReadAll,
    Resume,
    Subscribe,
    Unsubscribe,
    decode_client_message,
)
from herald.delivery.websocket_sinks import Reply, SocketSink, WebSocketSink
from herald.delivery.sse import RAW_SEND
from herald.errors import HeraldError
from herald.services import Services
from herald.wire import parse_channels, parse_cursor


@websocket("/api/notifications/ws", dependencies=websocket_admission)
async def notifications_ws(socket: WebSocket, refusal: Refusal | None) -> None:
    """The notification stream over WebSocket (see the module docstring for the protocol)."""
    s = services(socket)  # type: ignore[arg-type]
    await socket.accept()
    if not origin_allowed(socket, s.settings.cors_origins):
        # No preflight guards a handshake: a page of another origin (a sibling subdomain, which gets
        # the SameSite=Lax cookie) would otherwise read the user's stream.
        await socket.close(CLOSE_FORBIDDEN_ORIGIN, "origin not allowed")
        return
    if refusal is not None:
        await socket.close(CLOSE_RATE_LIMITED, f"rate limited; retry after {refusal.retry_after_seconds} s")
        return
    try:
        user_id = await require_subscriber(socket)
    except HeraldError:
        # Browsers cannot read the status of a refused upgrade; a close code they can.
        await socket.close(CLOSE_UNAUTHORIZED, "unauthorized")
        return
    try:
        first = decode_client_message(await asyncio.wait_for(socket.receive_text(), FIRST_MESSAGE_SECONDS))
        if not isinstance(first, Resume):
            raise msgspec.ValidationError("the first message must be resume")
        resume = parse_cursor(first.cursor, "cursor")
        channels = parse_channels(first.channels)
    except (asyncio.TimeoutError, msgspec.DecodeError, msgspec.ValidationError, HeraldError) as exc:
        await socket.close(CLOSE_PROTOCOL, _reason(exc))
        return
    except WebSocketDisconnect:
        return
    s.admission.opened("websocket", resume is not None)
    raw_send = socket.scope.get(RAW_SEND)  # type: ignore[call-overload]
    direct = SocketSink.take_over(raw_send) if raw_send is not None else None
    if direct is not None:
        try:
            conn = await s.gateway.open(user_id, resume, FRAMED_WS_ENCODER, direct, "websocket", channels)
        except BaseException:
            direct.close()  # uvicorn no longer owns the socket: closing it is the sink's to do
            raise
        if conn is not None:
            direct.serve(ClientMessages(s, conn).answer)  # the sink reads and writes from here; this task ends
        return
    sink = WebSocketSink(socket)
    conn = await s.gateway.open(user_id, resume, WS_ENCODER, sink, "websocket", channels)
    if conn is not None:
        await _handle_client(socket, sink, ClientMessages(s, conn))  # until the client leaves


class ClientMessages:
    """What the client says after ``resume``; a bad message gets an ``error`` message, never a dropped socket.

    ``answer`` returns the reply at once when no I/O is needed (the common case: pings, acks,
    channels), or a coroutine for the one message that needs the database (reads), so that a
    socket the sink owns runs a task only while a read is stored.
    """

    __slots__ = ("_s", "_conn")

    def __init__(self, s: Services, conn: Connection) -> None:
        self._s, self._conn = s, conn

    def answer(self, data: bytes | str) -> Reply:
        s, conn = self._s, self._conn
        try:
            message = decode_client_message(data)
            if isinstance(message, Read):
                return self._read(message.ids)
            if isinstance(message, ReadAll):
                return self._read(None)
            if isinstance(message, Subscribe):
                s.gateway.join(conn, parse_channels(message.channels))
            elif isinstance(message, Unsubscribe):
                s.gateway.leave(conn, message.channels)
            elif isinstance(message, Ping):
                return PONG
            elif isinstance(message, Ack):
                s.receipts.record(conn.user_id, message.ids, "websocket")
            else:
                raise msgspec.ValidationError("resume is only allowed as the first message")
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return _error("invalid_request", _reason(exc))
        except HeraldError as exc:
            return _error(exc.code, exc.message)
        return None

    async def _read(self, ids: list[str] | None) -> bytes | None:
        try:
            await self._s.publisher.publish_read(self._conn.user_id, ids)
        except HeraldError as exc:
            return _error(exc.code, exc.message)
        return None


PONG = b'{"type":"pong"}'


def _error(code: str, message: str) -> bytes:
    return msgspec.json.encode({"type": "error", "error": code, "message": message})


async def _handle_client(socket: WebSocket, sink: WebSocketSink, messages: ClientMessages) -> None:
    """The plain-ASGI path: the client's messages, one after the other, until it leaves."""
    try:
        while not sink.closed:
            reply = messages.answer(await socket.receive_text())
            if reply is not None and not isinstance(reply, bytes):
                reply = await reply
            if reply is not None:
                await socket.send_text(reply.decode())
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        sink.disconnected()


def _reason(exc: Exception) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "no resume message"
    text = exc.message if isinstance(exc, HeraldError) else str(exc)
    return text[:120]  # a close reason is at most 123 bytes
