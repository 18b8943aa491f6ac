"""A request's head has a deadline and a size limit (issue 15, "also seen").

uvicorn's httptools protocol bounds neither: 200 connections that sent half a
request line stayed open, and a 1 MB header was read before the 401. Herald's
protocol (herald/http_server.py) answers 408 to a head not complete within
HERALD_HEADER_TIMEOUT_SECONDS and 431 to one over HERALD_MAX_HEADER_BYTES,
and does not touch a request once its head is in (a stream lives on).
"""
from __future__ import annotations

import asyncio
import socket
import time

import pytest

from tests.herald_server import HeraldServer
from tests.sse_client import open_stream


@pytest.fixture
def bounded(fresh_server: HeraldServer) -> HeraldServer:
    fresh_server.env.update(HERALD_HEADER_TIMEOUT_SECONDS="1", HERALD_MAX_HEADER_BYTES="8192")
    return fresh_server.start()


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_half_open_requests_are_answered_408_and_closed(bounded: HeraldServer) -> None:
    sockets = []
    for _ in range(50):
        sock = socket.create_connection(("127.0.0.1", bounded.port), timeout=10)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # never finished
        sockets.append(sock)
    started = time.monotonic()
    answers = [read_all(sock) for sock in sockets]  # each ends when the server closes it
    assert time.monotonic() - started < 5
    assert all(answer.startswith(b"HTTP/1.1 408 ") and b'"error":"request_timeout"' in answer for answer in answers)
    for sock in sockets:
        sock.close()


def test_a_head_sent_slowly_but_in_time_is_served(bounded: HeraldServer) -> None:
    with socket.create_connection(("127.0.0.1", bounded.port), timeout=10) as sock:
        for part in (b"GET /healthz HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"Connection: close\r\n\r\n"):
            sock.sendall(part)
            time.sleep(0.2)
        assert read_all(sock).startswith(b"HTTP/1.1 200 ")


def test_an_oversized_head_is_431_and_the_server_serves_on(bounded: HeraldServer) -> None:
    with socket.create_connection(("127.0.0.1", bounded.port), timeout=10) as sock:
        sock.sendall(b"GET /api/notifications HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + b"x" * 100_000
                     + b"\r\n\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 ") and b'"error":"request_headers_too_large"' in answer
    long_url = b"/healthz?" + b"a" * 20_000
    with socket.create_connection(("127.0.0.1", bounded.port), timeout=10) as sock:
        sock.sendall(b"GET " + long_url + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 431 ")
    with socket.create_connection(("127.0.0.1", bounded.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 200 ")


async def test_a_stream_outlives_the_head_deadline(bounded: HeraldServer) -> None:
    user = "long-stream"
    async with open_stream(bounded.url, bounded.token(user)) as stream:
        await stream.until("ready")
        await asyncio.sleep(2.5)  # past the 1 s deadline for heads
        bounded.publish(to={"users": [user]}, type="t", title="still here")
        assert (await stream.until("notification", timeout=10)).json()["title"] == "still here"
