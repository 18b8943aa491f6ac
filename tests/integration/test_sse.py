"""How the SSE stream owns its connection: handed over from uvicorn, ended cleanly, and the plain-ASGI fallback."""
from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.herald_server import API_KEY, SECRET, HeraldServer, free_port
from tests.sse_client import open_stream


def connections(url: str) -> float:
    text = httpx.get(url + "/metrics").text
    match = re.search(r'^herald_connections\{transport="sse"\} ([0-9.]+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


async def wait_for(predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


async def test_a_client_that_leaves_is_forgotten_at_once(server: HeraldServer, user_id: str) -> None:
    before = connections(server.url)
    async with open_stream(server.url, server.token(user_id)) as stream:
        await stream.until("ready")
        assert await wait_for(lambda: connections(server.url) == before + 1)
    assert await wait_for(lambda: connections(server.url) == before), "the closed socket reached the gateway"


async def test_a_stream_outlives_uvicorns_keep_alive_timeout(server: HeraldServer, user_id: str) -> None:
    # After the hand-over uvicorn no longer times the connection: only the client ends it.
    async with open_stream(server.url, server.token(user_id)) as stream:
        await stream.until("ready")
        await asyncio.sleep(6)  # uvicorn closes idle keep-alive connections after 5 s
        sent = server.publish(to={"users": [user_id]}, type="t", title="still here")["id"]
        assert (await stream.until("notification")).json()["id"] == sent


async def test_the_response_head_goes_out_with_the_ready_event_in_one_write(server: HeraldServer, user_id: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(f"GET /api/notifications/stream HTTP/1.1\r\nHost: x\r\nOrigin: http://elsewhere.example\r\n"
                 f"X-Request-ID: held-head-1\r\nAuthorization: Bearer {server.token(user_id)}\r\n\r\n".encode())
    await writer.drain()
    first = await asyncio.wait_for(reader.read(65536), 5)  # one write on loopback: one read
    writer.close()
    head, _, body = first.partition(b"\r\n\r\n")
    lines = head.decode().lower().split("\r\n")
    assert lines[0] == "http/1.1 200 ok" and "transfer-encoding: chunked" in lines
    # What the middleware adds to the head is still there: the request id, the SSE headers.
    assert "x-request-id: held-head-1" in lines and "x-accel-buffering: no" in lines
    size, _, frame = body.partition(b"\r\n")
    assert frame.startswith(b"retry: ") and b"event: ready" in frame and len(frame) == int(size, 16) + 2


async def test_shutdown_ends_streams_with_the_final_chunk(fresh_server: HeraldServer, user_id: str) -> None:
    fresh_server.start()
    token = fresh_server.token(user_id)
    reader, writer = await asyncio.open_connection("127.0.0.1", fresh_server.port)
    writer.write(f"GET /api/notifications/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert b"transfer-encoding: chunked" in head.lower()
    assert b"event: ready" in await asyncio.wait_for(reader.readuntil(b"\n\n"), 5)
    fresh_server.stop()  # SIGTERM: a graceful shutdown
    rest = await asyncio.wait_for(reader.read(), 15)
    writer.close()
    assert rest.endswith(b"\r\n0\r\n\r\n"), "a complete chunked body: the client knows the stream ended, not broke"


async def test_under_a_plain_asgi_server_the_contract_holds(tmp_path: Path, user_id: str) -> None:
    # uvicorn's h11 protocol: no transport to take over, so every frame goes through ASGI send().
    port = free_port()
    env = {"HERALD_DATA_DIR": str(tmp_path), "HERALD_API_KEYS": API_KEY, "HERALD_SECRET": SECRET,
           "HERALD_HEARTBEAT_SECONDS": "0.3", "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-m", "herald.cli", "migrate"], env=env, check=True, capture_output=True)
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "herald.app:app_from_environment", "--factory",
                                "--http", "h11", "--port", str(port), "--log-level", "warning"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        assert await wait_for(lambda: _ready(url), 20)
        producer = HeraldServer(tmp_path)
        producer.url = url
        token = producer.token(user_id)
        first = producer.publish(to={"users": [user_id]}, type="t", title="before")["id"]
        async with open_stream(url, token, last_event_id="0") as stream:
            assert (await stream.until("ready")).id == "0"
            assert (await stream.until("notification")).json()["id"] == first, "replay over plain ASGI"
            live = producer.publish(to={"users": [user_id]}, type="t", title="live")["id"]
            event = await stream.until("notification")
            assert (event.json()["id"], event.id) == (live, "2")
            httpx.post(f"{url}/api/notifications/read-all", headers={"Authorization": f"Bearer {token}"})
            assert (await stream.until("read")).json() == {"all": True, "unreadCount": 0}
            with pytest.raises(asyncio.TimeoutError):
                await stream.next(timeout=1.0)
            assert stream.comments >= 2, "heartbeats are flushed through ASGI too"
        assert await wait_for(lambda: connections(url) == 0)
    finally:
        process.terminate()
        process.wait(10)


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
