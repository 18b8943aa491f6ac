"""Five clients that read nothing for a minute while the producer keeps publishing: memory stays flat.

``tests/unit/test_slow_consumer.py`` proves one stalled reader overflows to a replay, holds no one
else back and gets everything in order when it reads again. This one holds the stall for a minute
(the suite's one minute-long test) with more than the server could ever buffer for them (about
70 MB of unread frames in all), and samples the server's resident memory from /proc: bounded
per-connection queues keep it flat, while the same user's and another user's live streams keep
receiving every item, in order, promptly.
"""
from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from pathlib import Path

import httpx

from tests.herald_server import HeraldServer
from tests.sse_client import Stream, open_stream

STALL_SECONDS = 60
RATE_PER_SECOND = 20
STALLED = 5
PAD = {"body": "x" * 4000, "data": {"pad": "y" * 8000}}  # about 12 KB a frame


def rss_bytes(pid: int) -> int:
    match = re.search(r"^VmRSS:\s+(\d+) kB$", Path(f"/proc/{pid}/status").read_text(), re.M)
    assert match, "VmRSS in /proc"
    return int(match.group(1)) * 1024


async def stalled_reader(port: int, token: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    writer.write(f"GET /api/notifications/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                 "Accept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    return reader, writer


async def collect(stream: Stream, sent_at: dict[str, float], until: threading.Event) -> tuple[list[str], list[float]]:
    """Items as they arrive, until the producer is done and as many arrived as were sent (or 5 s of silence)."""
    ids, latencies = [], []
    while not (until.is_set() and len(ids) >= len(sent_at)):
        try:
            # A timeout ends the reader (it cancels the line iterator), so it only ever comes last:
            # when the producer finished a moment after this stream's final item.
            item = (await stream.until("notification", timeout=5)).json()
        except (asyncio.TimeoutError, EOFError):
            break
        now = time.monotonic()
        ids.append(item["id"])
        latencies.append(now - sent_at.get(item["id"], now))
    return ids, latencies


async def test_a_minute_of_stalled_readers_keeps_memory_flat_and_others_live(fresh_server: HeraldServer) -> None:
    fresh_server.env["HERALD_CONNECTION_QUEUE_LIMIT"] = "100"
    herald = fresh_server.start()
    assert herald.process is not None
    pid = herald.process.pid
    user, other = "stalled-user", "live-bystander"
    token = herald.token(user)
    stalled = [await stalled_reader(herald.port, token) for _ in range(STALLED)]
    published: list[str] = []
    sent_at: dict[str, float] = {}
    done = threading.Event()

    def produce() -> None:
        with httpx.Client(base_url=herald.url, headers=herald.headers(), timeout=30) as http:
            start = time.monotonic()
            n = 0
            while time.monotonic() - start < STALL_SECONDS:
                response = http.post("/api/publish", json={"to": {"users": [user, other]}, "type": "t",
                                                           "title": f"#{n}", **PAD})
                assert response.status_code == 202, response.text
                published.append(response.json()["id"])
                sent_at[published[-1]] = time.monotonic()
                n += 1
                time.sleep(max(0.0, start + n / RATE_PER_SECOND - time.monotonic()))
        done.set()

    samples: list[tuple[float, int]] = []

    async def sample() -> None:
        while not done.is_set():
            samples.append((time.monotonic(), rss_bytes(pid)))
            await asyncio.sleep(2)

    async with open_stream(herald.url, token) as same_user, open_stream(herald.url, herald.token(other)) as bystander:
        await same_user.until("ready")
        await bystander.until("ready")
        producer = threading.Thread(target=produce)
        producer.start()
        sampler = asyncio.ensure_future(sample())
        (mine, my_latency), (theirs, their_latency) = await asyncio.gather(
            collect(same_user, sent_at, done), collect(bystander, sent_at, done))
        await sampler
        await asyncio.to_thread(producer.join, 30)

    unread = len(published) * 12_000 * STALLED
    assert unread > 50_000_000, f"the stalled readers left {unread / 1e6:.0f} MB unread"
    for name, got in (("same user", mine), ("bystander", theirs)):
        missing = [i for i, item in enumerate(published) if item not in set(got)]
        assert got == published, f"{name}: {len(got)} of {len(published)} received, missing #{missing[:10]}"
    for latencies in (my_latency, their_latency):
        slowest = sorted(latencies)[int(len(latencies) * 0.99)]
        assert slowest < 2.0, f"p99 delivery {slowest:.2f} s: a stalled reader held a live one back"
    warm = [rss for at, rss in samples if at - samples[0][0] >= 10]
    growth = max(warm) - warm[0]
    assert growth < 25 * 1024 * 1024, f"server RSS grew {growth / 2**20:.1f} MiB over the stall: {[r >> 20 for r in warm]} MiB"
    metrics = httpx.get(herald.url + "/metrics").text
    overflows = re.search(r'^herald_connection_overflows_total{transport="sse"} ([0-9.]+)$', metrics, re.M)
    assert overflows and float(overflows.group(1)) >= STALLED, "each stalled connection overflowed its queue"
    assert re.search(r'^herald_connections{transport="sse"} 5.0$', metrics, re.M), "the stalled ones are still open"
    for _, writer in stalled:
        writer.close()
