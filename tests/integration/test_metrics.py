"""Metrics: the gateway's plain counts reach real counters, every worker is summed, errors are counted."""
from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.herald_server import HeraldServer, RedisServer, _children, create_postgres_database, drop_postgres_database
from tests.scrape import metric
from tests.sse_client import open_stream


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[HeraldServer]:
    redis = RedisServer().start()
    database = create_postgres_database()
    herald = HeraldServer(tmp_path / "herald", database, "--workers", "2", HERALD_REDIS_URL=redis.url).start()
    yield herald
    herald.stop()
    redis.stop()
    drop_postgres_database(database)


def _streams_per_worker(herald: HeraldServer) -> dict[int, int]:
    """Established connections on the server's port, by the worker process whose socket it is."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == herald.port and fields[3] == "01":
            inodes.add(f"socket:[{fields[9]}]")
    counts = {}
    assert herald.process is not None
    for pid in _children(herald.process.pid):
        with contextlib.suppress(OSError):
            if b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue  # multiprocessing's helper, not a worker
            counts[pid] = sum(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{pid}/fd"))
    return counts


async def test_metrics_of_two_workers_sum_the_deliveries_of_both(two_workers: HeraldServer, user_id: str) -> None:
    token = two_workers.token(user_id)
    async with contextlib.AsyncExitStack() as stack:
        streams = []
        # Keep opening streams until each worker holds some: the kernel picks the worker per connection.
        while len(streams) < 4 or min(_streams_per_worker(two_workers).values()) == 0:
            assert len(streams) < 40, f"connections never reached both workers: {_streams_per_worker(two_workers)}"
            stream = await stack.enter_async_context(open_stream(two_workers.url, token))
            await stream.until("ready")
            streams.append(stream)
        two_workers.publish(to={"users": [user_id]}, type="t", title="to every stream")
        for stream in streams:
            assert (await stream.until("notification")).json()["title"] == "to every stream"
        # Whichever worker answers the scrape answers for both (each syncs its counts every second).
        deadline = time.monotonic() + 10
        while metric(two_workers, "herald_deliveries_total", '{transport="sse"}') != len(streams):
            assert time.monotonic() < deadline, "the scrape never summed both workers' deliveries"
            await asyncio.sleep(0.2)
        for _ in range(6):
            assert metric(two_workers, "herald_deliveries_total", '{transport="sse"}') == len(streams)
            assert metric(two_workers, "herald_connections", '{transport="sse"}') == len(streams)
            assert metric(two_workers, "herald_connects_total", '{transport="sse"}') == len(streams)
    deadline = time.monotonic() + 10
    while metric(two_workers, "herald_connections", '{transport="sse"}') != 0:
        assert time.monotonic() < deadline, "closed connections still counted"
        await asyncio.sleep(0.2)


def test_database_failures_are_counted(fresh_server: HeraldServer) -> None:
    fresh_server.env.update(HERALD_DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:1/none",
                            HERALD_MIGRATE_ON_START="false")
    process = subprocess.Popen([sys.executable, "-m", "herald.cli", "serve"], env=fresh_server.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(fresh_server.url + "/healthz").status_code == 200:
                    break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert httpx.get(fresh_server.url + "/readyz", timeout=20).status_code == 503
        publish = httpx.post(fresh_server.url + "/api/publish", headers=fresh_server.headers(), timeout=30,
                             json={"to": {"users": ["u"]}, "type": "t", "title": "x"})
        assert publish.status_code == 503
        assert metric(fresh_server, "herald_database_errors_total", '{operation="readiness"}') == 1
        assert metric(fresh_server, "herald_database_errors_total", '{operation="request"}') == 1
    finally:
        process.kill()
        process.wait()


async def test_redis_failures_are_counted_and_publishing_goes_on(tmp_path: Path, user_id: str) -> None:
    redis = RedisServer().start()
    herald = HeraldServer(tmp_path / "herald", HERALD_REDIS_URL=redis.url).start()
    try:
        redis.stop()
        answer = httpx.post(herald.url + "/api/publish", headers=herald.headers(), timeout=30,
                            json={"to": {"users": [user_id]}, "type": "t", "title": "kept"})
        assert answer.status_code == 202
        assert httpx.get(herald.url + "/readyz", timeout=20).status_code == 503
        assert metric(herald, "herald_redis_errors_total", '{operation="ratelimit"}') >= 1
        assert metric(herald, "herald_redis_errors_total", '{operation="publish"}') == 1
        assert metric(herald, "herald_redis_errors_total", '{operation="readiness"}') == 1
    finally:
        herald.stop()
        redis.stop()


