"""Where a WebSocket's frames go: straight to the transport (``SocketSink``) or through ASGI (``WebSocketSink``).

Why the socket leaves the ASGI path once it is open, as the SSE stream does
(sse.py): under uvicorn every message was an ASGI ``send()`` through the
websockets library's framing, and every socket kept a handler task, uvicorn's
protocol object with its queue, and Litestar's ``WebSocket``; that held
Herald's WebSocket fan-out to about half of SSE's, at 31 KB per idle socket.

After the handshake and the ``resume`` message, ``SocketSink.take_over``
makes the sink the connection's asyncio protocol and the route's task ends.
The gateway's frames are framed once per event (``FramedWSEncoder``: a
server frame is a 2- to 10-byte header, unmasked) and written as they come.
What the client sends is parsed by the websockets library's sans-I/O
protocol: a fresh one when uvicorn's holds nothing unparsed (the common
case), else uvicorn's own, so that no byte it had buffered is lost: masking, fragments, UTF-8, the size bound, pings answered,
the close handshake. The keepalive (a ping every 30 s, closed 1011 without
its pong within 10 s) is one timer for all sockets (keepalive.py). A
message that needs the database (``read``) runs as a task while reading
from that client is paused, so one socket has at most one in flight.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import random
from typing import Awaitable, Callable, Union

from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect
from litestar.types import Send
from websockets.frames import Frame, Opcode
from websockets.protocol import SERVER, Protocol, State

from herald.delivery.direct import DirectSink, nothing
from herald.delivery.keepalive import Keepalive, keepalive
from herald.delivery.websocket import CLOSE_GOING_AWAY, CLOSE_TOO_MANY, text_frame

Reply = Union[bytes, Awaitable["bytes | None"], None]
"""What the route answers a client message with: a message now, one later (it needs the database), or nothing."""
OnMessage = Callable[[bytes], Reply]

log = logging.getLogger(__name__)
_UVICORN_SANSIO = "uvicorn.protocols.websockets.websockets_sansio_impl"


class _Detached:
    """Stands in for the transport in uvicorn's protocol after the hand-over: the route's return then closes nothing."""

    __slots__ = ()

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return True

    def write(self, data: bytes) -> None:
        pass


_DETACHED = _Detached()


class SocketSink(DirectSink):
    """A WebSocket after the hand-over: the gateway's frames to the transport, the client's to ``on_message``."""

    __slots__ = ("_ws", "_on_message", "_waiting", "_fragments", "_busy", "_keepalive", "_ping_payload")

    def __init__(self, transport: asyncio.Transport, ws: Protocol, keepalive: Keepalive | None) -> None:
        super().__init__(transport, False)
        self._ws = ws
        self._on_message: OnMessage | None = None
        self._waiting: collections.deque[bytes] | None = None  # client messages not yet handled
        self._fragments: list[bytes] | None = None
        self._busy = False  # a reply is being worked out (a task): reading is paused
        self._keepalive = keepalive
        self._ping_payload: bytes | None = None

    @classmethod
    def take_over(cls, send: Send) -> "SocketSink | None":
        """Become the protocol of the socket behind uvicorn's ``send`` (its websockets sans-I/O protocol).

        None: another server, or a socket this sink cannot own (closing, or with
        permessage-deflate, whose per-socket state rules out sharing a frame); use
        ``WebSocketSink``. Reading stays paused until ``serve``.
        """
        protocol = getattr(send, "__self__", None)
        if not any(base.__module__ == _UVICORN_SANSIO for base in type(protocol).__mro__):
            return None
        ws: Protocol = protocol.conn  # type: ignore[union-attr]
        if (not protocol.handshake_complete or protocol.close_sent or protocol.disconnected  # type: ignore[union-attr]
                or ws.extensions or protocol.transport.is_closing()):  # type: ignore[union-attr]
            return None
        transport: asyncio.Transport = protocol.transport  # type: ignore[union-attr]
        interval, timeout = protocol.ping_interval, protocol.ping_timeout  # type: ignore[union-attr]
        if not protocol.frames and _between_frames(ws):  # type: ignore[union-attr]
            # uvicorn's protocol keeps the handshake's request (its headers) alive in its parser:
            # a fresh one for the open socket holds a quarter of the memory.
            ws = Protocol(SERVER, state=State.OPEN, max_size=(ws.max_message_size, ws.max_fragment_size),
                          logger=ws.logger)
        sink = cls(transport, ws, keepalive(interval, timeout or 0.0) if interval else None)
        protocol.stop_keepalive()  # type: ignore[union-attr]
        # What uvicorn has read and not yet handed to the app is the sink's now, in order.
        queue: asyncio.Queue = protocol.queue  # type: ignore[union-attr]
        while not queue.empty():
            message = queue.get_nowait()
            if message["type"] == "websocket.disconnect":
                sink.closed = True
            elif message.get("text") is not None:
                sink._keep(message["text"].encode())
            elif message.get("bytes") is not None:
                sink._keep(message["bytes"])
        if protocol.frames:  # type: ignore[union-attr]
            sink._fragments = list(protocol.frames)  # type: ignore[union-attr]
        protocol.connections.discard(protocol)  # type: ignore[union-attr]
        protocol.transport = _DETACHED  # type: ignore[union-attr]
        if sink.closed:
            transport.close()
            return sink
        transport.pause_reading()
        transport.set_protocol(sink)
        return sink

    def serve(self, on_message: OnMessage) -> None:
        """The connection is registered: answer what the client sent meanwhile, then read on."""
        self._on_message = on_message
        if self._keepalive is not None:
            self._keepalive.watch(self)
        self._handle_waiting()
        if not self._busy and not self.closed:
            self._transport.resume_reading()

    # asyncio.Protocol
    def data_received(self, data: bytes) -> None:
        ws = self._ws
        ws.receive_data(data)
        for event in ws.events_received():
            self._frame(event)
        self._send_protocol_frames()
        if ws.parser_exc is not None or ws.close_expected():
            # A frame broke the protocol (too big, bad UTF-8, unmasked) or the client closed: the
            # library has queued the close frame, written above; the TCP close is the server's.
            self._transport.close()
            return
        self._handle_waiting()

    def pause_writing(self) -> None:
        # A client that sends (pings, reads) but never reads what it is sent stops being read.
        super().pause_writing()
        self._transport.pause_reading()

    def resume_writing(self) -> None:
        super().resume_writing()
        if not self._busy and not self.closed:
            self._transport.resume_reading()

    def close(self, reason: str = "going_away") -> None:
        """The server ends the socket: "reconnect" (4000) after a shutdown or an error, else a final code."""
        if not self.closed:
            code = CLOSE_TOO_MANY if reason == "too_many_connections" else CLOSE_GOING_AWAY
            if self._ws.state is State.OPEN:  # else the client's close came first, and was answered
                self._ws.send_close(code, reason)
                self._send_protocol_frames()
            self._transport.close()
            self.connection_lost(None)  # closed for the gateway now: nothing more is written

    # What the client sends
    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if frame.fin:
                self._keep(bytes(frame.data))
            else:
                self._fragments = [bytes(frame.data)]
        elif opcode is Opcode.CONT:
            if self._fragments is not None:
                self._fragments.append(bytes(frame.data))
                if frame.fin:
                    self._keep(b"".join(self._fragments))
                    self._fragments = None
        elif opcode is Opcode.PONG:
            if self._ping_payload is not None and bytes(frame.data) == self._ping_payload:
                self._ping_payload = None
                self._keepalive.watch(self)  # type: ignore[union-attr]
        # PING: the library has queued its pong; CLOSE: its close reply. Both go out with the next write.

    def _keep(self, message: bytes) -> None:
        if self._waiting is None:
            self._waiting = collections.deque()
        self._waiting.append(message)

    def _handle_waiting(self) -> None:
        waiting, on_message = self._waiting, self._on_message
        while waiting and on_message is not None and not self._busy and not self.closed:
            reply = on_message(waiting.popleft())
            if reply is None:
                continue
            if isinstance(reply, bytes):
                self._reply(reply)
                continue
            self._busy = True
            self._transport.pause_reading()
            asyncio.ensure_future(reply).add_done_callback(self._replied)
        if not waiting:
            self._waiting = None

    def _replied(self, task: asyncio.Future[bytes | None]) -> None:
        self._busy = False
        if task.cancelled() or task.exception() is not None:
            # E.g. the database is down: the client reconnects and sends its reads again.
            log.warning("a WebSocket message failed; the socket is closed for a reconnect",
                        exc_info=None if task.cancelled() else task.exception())
            self.close()
            return
        reply = task.result()
        if reply is not None:
            self._reply(reply)
        if self.closed:
            return
        self._handle_waiting()
        if not self._busy and not self._paused:
            self._transport.resume_reading()

    def _reply(self, message: bytes) -> None:
        if not self.closed:
            self._transport.write(text_frame(message))

    def _send_protocol_frames(self) -> None:
        frames = self._ws.data_to_send()
        if frames and not self._transport.is_closing():
            self._transport.write(b"".join(frames))

    # Keepalive (keepalive.py): pinged every interval, dead without the pong within the timeout.
    def ping(self) -> bytes:
        payload = self._ping_payload = random.getrandbits(32).to_bytes(4, "big")
        self._ws.send_ping(payload)
        self._send_protocol_frames()
        return payload

    def pong_missed(self, payload: bytes) -> None:
        if payload is self._ping_payload and not self.closed:
            self._ws.fail(1011, "keepalive ping timeout")
            self._send_protocol_frames()
            self._transport.close()
            self.connection_lost(None)


def _between_frames(ws: Protocol) -> bool:
    """The parser holds no bytes and no part of a message: it waits for the first byte of a frame.

    Read from the parser's generator chain (``gi_yieldfrom``): if a later websockets parses
    differently, this says False, and the socket keeps uvicorn's parser (correct, only larger).
    """
    if ws.reader.buffer or ws.current_size is not None or ws.state is not State.OPEN:
        return False
    generator = ws.parser
    while getattr(generator, "gi_yieldfrom", None) is not None:
        generator = generator.gi_yieldfrom
    return getattr(getattr(generator, "gi_code", None), "co_name", "") == "at_eof"


class WebSocketSink:
    """Plain ASGI (any other server): one WebSocket text message per frame; no direct writes."""

    __slots__ = ("closed", "on_close", "_socket", "_closing")

    def __init__(self, socket: WebSocket) -> None:
        self.closed = False
        self.on_close: Callable[[], None] = nothing
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
            # The client may be gone already: its close then fails, and that is no error worth a traceback.
            self._closing.add_done_callback(_retrieved)
            self.disconnected()

    def disconnected(self) -> None:
        if not self.closed:
            self.closed = True
            self.on_close()


def _retrieved(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
