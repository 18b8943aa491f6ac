"""The load side of ``herald bench``: one worker process holding thousands of SSE or WebSocket streams.

Each stream is a bare uvloop protocol with an httptools response parser
(chunked or not), or after a WebSocket upgrade a minimal frame reader, so a
delivery costs one callback and a byte search: the load generator shares the
machine's cores with the server it measures.

A worker talks to the coordinator over a pipe. It sends ``ready`` once its
streams are open, ``done`` when broadcast k has reached every one of its live
streams, and ``result`` when told to ``stop``; it answers ``count`` with its
deliveries so far. Times are ``time.time()``: the publisher is another process.
"""
from __future__ import annotations

import asyncio
import errno
import os
import resource
import signal
import socket
import time
from array import array
from collections import Counter
from multiprocessing.connection import Connection as Pipe
from typing import Any

import httptools
import uvloop

# A process may open 20,000 files here, and one source address has about 28,000 ports.
CONNECTIONS_PER_PROCESS = 15_000
CONNECTIONS_PER_SOURCE_ADDRESS = 5_000

# Publishes numbered from here on are load while streams open (``--open-publish-rate``): not counted as
# deliveries, so every delivery and latency figure stays the measurement it was.
OPENING_K = 1 << 40

# Not in the socket module before Python 3.12. It lets the kernel choose the
# source port at connect time, per destination, instead of at bind time.
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


class StatusError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class ClosedBeforeReady(ConnectionError):
    """The server closed the stream before it was ready (Herald: before the ``ready`` event)."""


class BadResponse(ConnectionError):
    """Not HTTP, or not an HTTP/1.1 response httptools can parse."""


class Stream(asyncio.Protocol):
    __slots__ = ("load", "request", "parser", "buf", "sep", "transport", "opened", "awaiting_ready", "live", "ws")

    def __init__(self, load: Load, request: bytes) -> None:
        self.load = load
        self.request = request
        self.parser = httptools.HttpResponseParser(self)
        self.buf = b""
        self.sep = b""
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = load.loop.create_future()
        self.awaiting_ready = False
        self.live = False
        self.ws = False  # upgraded: the bytes are WebSocket frames

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self.ws:
            self._frames(data)
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            # 101 Switching Protocols: Herald is told which cursor and channels, and says "ready";
            # a peer is open now.
            self.ws = True
            if self.load.kind == "herald":
                self.awaiting_ready = True
                self.transport.write(self.load.hello)  # type: ignore[union-attr]
            elif not self.opened.done():
                self.opened.set_result(None)
            self._frames(data[upgrade.args[0]:])
        except httptools.HttpParserError:
            self._refuse(BadResponse())
            self.transport.abort()  # type: ignore[union-attr]

    def _frames(self, data: bytes) -> None:
        """Server frames (RFC 6455, unmasked): text messages are parsed, pings answered, a close closes."""
        buf = self.buf + data if self.buf else data
        start, size = 0, len(buf)
        while size - start >= 2:
            opcode, length, at = buf[start] & 0x0F, buf[start + 1] & 0x7F, start + 2
            if length >= 126:
                width = 2 if length == 126 else 8
                if size - at < width:
                    break
                length, at = int.from_bytes(buf[at:at + width], "big"), at + width
            if size - at < length:
                break
            end = at + length
            if opcode == 1:
                if self.awaiting_ready and buf.startswith(b'{"type":"ready"', at):
                    self.awaiting_ready = False
                    if not self.opened.done():
                        self.opened.set_result(None)
                else:
                    self.load.parse(buf, at, end)
            elif opcode == 9:
                self.transport.write(client_frame(0xA, buf[at:end]))  # type: ignore[union-attr]
            elif opcode == 8:
                self.transport.close()  # type: ignore[union-attr]
            start = end
        self.buf = buf[start:] if start < size else b""

    def connection_lost(self, exc: Exception | None) -> None:
        if self.live:
            self.live = False
            self.load.stream_lost()
        self._refuse(ClosedBeforeReady())

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status == 101:
            return  # the upgrade: feed_data raises HttpParserUpgrade next
        if status == 200:
            # Herald answers 200 before it has subscribed the stream; "ready" says it has.
            if self.load.kind == "herald":
                self.awaiting_ready = True
            elif not self.opened.done():
                self.opened.set_result(None)
        else:
            self._refuse(StatusError(status))
            self.transport.abort()  # type: ignore[union-attr]

    def on_body(self, body: bytes) -> None:
        # A body piece may end inside a frame (TCP or chunk boundary): keep the tail.
        buf = self.buf + body if self.buf else body
        sep = self.sep
        if not sep:
            # SSE lines end in LF or CRLF (sse-starlette): the first line tells which.
            newline = buf.find(b"\n")
            if newline < 0:
                self.buf = buf
                return
            sep = self.sep = b"\r\n\r\n" if buf[newline - 1:newline] == b"\r" else b"\n\n"
        if self.awaiting_ready:
            ready = buf.find(b"event: ready")
            if ready >= 0 and buf.find(sep, ready) >= 0:
                self.awaiting_ready = False
                if not self.opened.done():
                    self.opened.set_result(None)
        start = 0
        end = buf.find(sep)
        parse = self.load.parse
        while end >= 0:
            parse(buf, start, end)
            start = end + len(sep)
            end = buf.find(sep, start)
        self.buf = buf[start:] if start < len(buf) else b""

    def _refuse(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One masked client frame (RFC 6455 section 5.2) of up to 64 KiB: the bench's messages are short."""
    mask, length = os.urandom(4), len(payload)
    head = bytes([0x80 | opcode, 0x80 | length]) if length < 126 else bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class Load:
    """The streams of one worker process and what they received."""

    def __init__(self, pipe: Pipe, config: dict[str, Any]) -> None:
        self.pipe = pipe
        self.loop = asyncio.get_running_loop()
        self.host: str = config["host"]
        self.port: int = config["port"]
        self.kind: str = config["kind"]
        self.hello: bytes = config["hello"]
        self.parse = self._parse_herald if self.kind == "herald" else (
            self._parse_peer_message if config.get("websocket") else self._parse_peer)
        self.received = [0] * config["broadcasts"]
        self.last_at = [0.0] * config["broadcasts"]
        self.reported = bytearray(config["broadcasts"])
        self.latencies = array("d")
        self.deliveries = 0
        self.live = 0
        self.dropped = 0
        self.errors: Counter[str] = Counter()
        self.streams: list[Stream] = []

    # Frame parsers: buf[start:end] is one SSE frame without its blank line.

    def _parse_herald(self, buf: bytes, start: int, end: int) -> None:
        # The notification JSON ends with ..."data":{"k":K,"t":T},"groupCount":...; the SSE
        # field is "data: " with a space, so this finds only the notification's own data.
        i = buf.find(b'"data":{"', start, end)
        if i < 0:
            return
        j = buf.find(b"}", i, end)
        first, _, second = buf[i + 8:j].partition(b",")
        try:
            if first.startswith(b'"k":'):
                k, sent = int(first[4:]), float(second[4:])
            else:
                k, sent = int(second[4:]), float(first[4:])
        except ValueError:
            return  # someone else's notification
        self._deliver(k, sent)

    def _parse_peer(self, buf: bytes, start: int, end: int) -> None:
        i = buf.find(b"data: ", start, end)
        if i < 0:
            return
        line_end = buf.find(b"\n", i, end)
        k, _, sent = buf[i + 6:end if line_end < 0 else line_end].partition(b",")
        try:
            self._deliver(int(k), float(sent))
        except ValueError:
            return

    def _parse_peer_message(self, buf: bytes, start: int, end: int) -> None:
        # The WebSocket peer protocol (shared/bench/fanout_probe_ws.py): the message is "K,T".
        k, _, sent = buf[start:end].partition(b",")
        try:
            self._deliver(int(k), float(sent))
        except ValueError:
            return

    def _deliver(self, k: int, sent: float) -> None:
        if k >= OPENING_K:
            return
        now = time.time()
        self.latencies.append(now - sent)
        self.deliveries += 1
        if 0 <= k < len(self.received):
            count = self.received[k] = self.received[k] + 1
            self.last_at[k] = now
            if count >= self.live and not self.reported[k]:
                self.reported[k] = 1
                self.pipe.send(("done", k, now))

    def stream_lost(self) -> None:
        # A broadcast that every remaining stream has seen is complete now, not at the next delivery.
        self.live -= 1
        self.dropped += 1
        for k, count in enumerate(self.received):
            if count and count >= self.live and not self.reported[k]:
                self.reported[k] = 1
                self.pipe.send(("done", k, self.last_at[k]))

    async def open_all(self, requests: list[bytes], sources: list[str], concurrency: int, timeout: float) -> None:
        jobs = iter(enumerate(requests))

        async def opener() -> None:
            for index, request in jobs:
                await self._open(request, sources[index % len(sources)] if sources else None, timeout)

        await asyncio.gather(*(opener() for _ in range(max(1, min(concurrency, len(requests))))))

    async def _open(self, request: bytes, source: str | None, timeout: float) -> None:
        stream = Stream(self, request)
        sock = None
        try:
            async with asyncio.timeout(timeout):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                if source is not None:
                    sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                    sock.bind((source, 0))
                await self.loop.sock_connect(sock, (self.host, self.port))
                await self.loop.create_connection(lambda: stream, sock=sock)
                await stream.opened
        except TimeoutError:
            self.errors["timeout"] += 1
        except StatusError as exc:
            self.errors[f"status_{exc.status}"] += 1
        except ClosedBeforeReady:
            self.errors["closed"] += 1
        except BadResponse:
            self.errors["bad_response"] += 1
        except ConnectionRefusedError:
            self.errors["refused"] += 1
        except OSError as exc:
            self.errors[errno.errorcode.get(exc.errno or 0, type(exc).__name__)] += 1
        else:
            stream.live = True
            self.live += 1
            self.streams.append(stream)
            return
        stream.opened.cancel()
        if stream.transport is not None:
            stream.transport.abort()
        elif sock is not None:
            sock.close()

    async def serve_commands(self) -> None:
        stopped: asyncio.Future[None] = self.loop.create_future()

        def command() -> None:
            try:
                message = self.pipe.recv()
            except (EOFError, OSError):
                message = ("stop",)  # the coordinator is gone
            if message[0] == "count":
                self.pipe.send(("count", self.deliveries))
            elif not stopped.done():
                stopped.set_result(None)

        watch_pipe(self.loop, self.pipe, command)
        await stopped
        self.loop.remove_reader(self.pipe.fileno())

    def close(self) -> None:
        for stream in self.streams:
            stream.live = False
            if stream.transport is not None:
                stream.transport.abort()


async def _work(pipe: Pipe, config: dict[str, Any]) -> None:
    load = Load(pipe, config)
    started, began = time.perf_counter(), time.time()
    await load.open_all(config["requests"], config["sources"], config["concurrency"], config["timeout"])
    # Epoch times too: the coordinator's opens per second span every process, from the first open to the last.
    pipe.send(("ready", {"connected": load.live, "errors": dict(load.errors),
                         "connect_seconds": time.perf_counter() - started, "connect_began": began,
                         "connect_ended": time.time()}))
    busy = resource.getrusage(resource.RUSAGE_SELF)
    await load.serve_commands()
    done = resource.getrusage(resource.RUSAGE_SELF)
    dropped, received = load.dropped, load.received
    load.close()
    pipe.send(("result", {"deliveries": load.deliveries, "latencies": load.latencies.tobytes(), "dropped": dropped,
                          "received": received, "maxrss_kb": done.ru_maxrss,
                          "cpu_seconds": done.ru_utime + done.ru_stime - busy.ru_utime - busy.ru_stime}))


def watch_pipe(loop: asyncio.AbstractEventLoop, pipe: Pipe, callback: Any, *args: Any) -> None:
    """Call ``callback`` when a message waits on ``pipe``.

    uvloop makes a watched fd non-blocking, but ``Connection.recv`` and ``send``
    expect blocking I/O for messages larger than the socket buffer (the final
    latencies): put it back. Readiness still comes from the loop.
    """
    loop.add_reader(pipe.fileno(), callback, *args)
    os.set_blocking(pipe.fileno(), True)


def raise_open_files_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass  # an unlimited hard limit cannot be the soft one: keep what we have
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def worker_main(pipe: Pipe, config: dict[str, Any]) -> None:
    """Entry point of one load process (multiprocessing, spawn)."""
    # Ctrl-C reaches the whole process group: the coordinator alone handles it, and stops us over the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_open_files_limit()
    try:
        uvloop.run(_work(pipe, config))
    except (BrokenPipeError, EOFError):
        pass  # the coordinator is gone: nobody is left to report to
