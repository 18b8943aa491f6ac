"""A client that stops reading: bounded memory, no one else slowed, and nothing lost when it reads again."""
from __future__ import annotations

import asyncio
import re
import socket

import httpx

from tests.herald_server import HeraldServer
from tests.sse_client import open_stream


async def test_stalled_reader_overflows_to_a_replay_and_still_gets_everything_in_order(fresh_server: HeraldServer, user_id: str) -> None:
    fresh_server.env["HERALD_CONNECTION_QUEUE_LIMIT"] = "20"
    fresh_server.start()
    token = fresh_server.token(user_id)
    reader, writer = await asyncio.open_connection("127.0.0.1", fresh_server.port)
    # A small receive buffer, never read: the server's socket buffers fill up.
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    writer.write(f"GET /api/notifications/stream?lastEventId=0 HTTP/1.1\r\nHost: x\r\n"
                 f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    published = []
    async with open_stream(fresh_server.url, token, last_event_id="0") as healthy:
        await healthy.until("ready")
        with httpx.Client(base_url=fresh_server.url, headers=fresh_server.headers()) as producer:
            # About 7.5 MB: more than the kernel's socket buffers (4 MiB here) can hide.
            for i in range(600):
                response = producer.post("/api/publish", json={"to": {"users": [user_id]}, "type": "t", "title": f"#{i}",
                                                               "body": "x" * 4000, "data": {"pad": "y" * 8000}})
                published.append(response.json()["id"])
        # The healthy connection of the same user is not held back by the stalled one.
        got = [(await healthy.until("notification")).json()["id"] for _ in published]
        assert got == published
    # Now the stalled client reads: everything arrives once, in order, from the replay.
    buffer = b""
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    deadline = asyncio.get_running_loop().time() + 60
    ids: list[str] = []
    while len(ids) < len(published) and asyncio.get_running_loop().time() < deadline:
        buffer += await asyncio.wait_for(reader.read(65536), 10)
        ids = re.findall(rb'"id":"([0-9A-Z]{26})"', buffer)
        ids = [i.decode() for i in ids]
    writer.close()
    assert list(dict.fromkeys(ids)) == published
    assert len(ids) == len(published), "nothing written twice"
    await asyncio.sleep(0.5)
    overflows = re.search(r"^herald_connection_overflows_total{transport=\"sse\"} ([0-9.]+)$", httpx.get(fresh_server.url + "/metrics").text, re.M)
    assert overflows is not None and float(overflows.group(1)) >= 1, "the stalled connection did overflow its queue"
