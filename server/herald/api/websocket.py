"""The WebSocket route: accept, admit, authenticate, resume, then the client's messages until it leaves.

The protocol itself (frames, close codes, message types) is ``herald.delivery.websocket``.
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
    WS_ENCODER,
    Ack,
    Ping,
    Read,
    ReadAll,
    Resume,
    Subscribe,
    Unsubscribe,
    WebSocketSink,
    decode_client_message,
)
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
    sink = WebSocketSink(socket)
    conn = await s.gateway.open(user_id, resume, WS_ENCODER, sink, "websocket", channels)
    if conn is not None:
        await _handle_client(s, socket, sink, conn)  # until the client leaves; the gateway writes meanwhile


async def _handle_client(s: Services, socket: WebSocket, sink: WebSocketSink, conn: Connection) -> None:
    """Client-to-server messages; a bad one gets an ``error`` message, never a dropped connection."""
    try:
        while not sink.closed:
            text = await socket.receive_text()
            try:
                message = decode_client_message(text)
                if isinstance(message, Read):
                    await s.publisher.publish_read(conn.user_id, message.ids)
                elif isinstance(message, ReadAll):
                    await s.publisher.publish_read(conn.user_id, None)
                elif isinstance(message, Subscribe):
                    s.gateway.join(conn, parse_channels(message.channels))
                elif isinstance(message, Unsubscribe):
                    s.gateway.leave(conn, message.channels)
                elif isinstance(message, Ping):
                    await socket.send_text('{"type":"pong"}')
                elif isinstance(message, Ack):
                    s.receipts.record(conn.user_id, message.ids, "websocket")
                else:
                    raise msgspec.ValidationError("resume is only allowed as the first message")
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                await socket.send_text(msgspec.json.encode({"type": "error", "error": "invalid_request",
                                                            "message": _reason(exc)}))
            except HeraldError as exc:
                await socket.send_text(msgspec.json.encode({"type": "error", "error": exc.code, "message": exc.message}))
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        sink.disconnected()


def _reason(exc: Exception) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "no resume message"
    text = exc.message if isinstance(exc, HeraldError) else str(exc)
    return text[:120]  # a close reason is at most 123 bytes
