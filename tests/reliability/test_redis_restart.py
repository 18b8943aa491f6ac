"""Redis killed (-9) and restarted while a producer publishes and streams on two nodes are reading.

``tests/unit/test_cluster.py::test_redis_down_for_a_while_loses_nothing`` stops Redis between
publishes. Here Redis dies while publishes are in flight on both nodes, and comes back on the same
port a moment later: every stream, on either node, still receives every item exactly once and in
order, and another user's stream receives none of them.
"""
from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.herald_server import HeraldServer, RedisServer, create_postgres_database, drop_postgres_database
from tests.sse_client import Stream, open_stream

TOTAL = 200
KILL_AFTER = 60


@pytest.fixture
def two_nodes(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[HeraldServer, HeraldServer]]:
    database = create_postgres_database()
    a = HeraldServer(tmp_path / "a", database, HERALD_REDIS_URL=redis_server.url).start()
    b = HeraldServer(tmp_path / "b", database, HERALD_MIGRATE_ON_START="false", HERALD_REDIS_URL=redis_server.url).start()
    yield a, b
    a.stop()
    b.stop()
    drop_postgres_database(database)


async def collect(stream: Stream, count: int) -> list[str]:
    ids = []
    while len(ids) < count:
        ids.append((await stream.until("notification", timeout=30)).json()["id"])
    return ids


async def test_redis_restart_mid_stream_delivers_everything_once_in_order_on_every_node(
        two_nodes: tuple[HeraldServer, HeraldServer], redis_server: RedisServer) -> None:
    a, b = two_nodes
    user, bystander = "redis-restart", "redis-bystander"
    published: list[str] = []
    killed = threading.Event()

    def produce() -> None:
        with httpx.Client(headers=a.headers(), timeout=30) as http:
            for i in range(TOTAL):
                node = (a, b)[i % 2]  # publishes land on both nodes
                response = http.post(node.url + "/api/publish", json={"to": {"users": [user]}, "type": "t", "title": f"#{i}"})
                assert response.status_code == 202, response.text  # persisting never needs Redis
                published.append(response.json()["id"])
                if i == KILL_AFTER:
                    redis_server.stop()  # SIGKILL: connections drop mid-command
                    killed.set()
                if i == KILL_AFTER + 30:
                    redis_server.start()  # the same port, empty: no subscriptions, no presence

    async with open_stream(a.url, a.token(user), last_event_id="0") as on_a, \
            open_stream(b.url, b.token(user), last_event_id="0") as on_b, \
            open_stream(b.url, b.token(bystander)) as other:
        for stream in (on_a, on_b, other):
            await stream.until("ready")
        producer = threading.Thread(target=produce)
        started = time.monotonic()
        producer.start()
        got_a, got_b = await asyncio.gather(collect(on_a, TOTAL), collect(on_b, TOTAL))
        await asyncio.to_thread(producer.join, 60)
        assert killed.is_set()
        with pytest.raises(asyncio.TimeoutError):
            await on_a.until("notification", timeout=1)  # nothing more: no duplicate after the last
        with pytest.raises(asyncio.TimeoutError):
            await other.until("notification", timeout=0.2)
    assert len(published) == TOTAL
    assert got_a == published, "node A's stream: every item once, in order"
    assert got_b == published, "node B's stream: every item once, in order"
    assert time.monotonic() - started < 120
    for node in (a, b):
        assert httpx.get(node.url + "/readyz").status_code == 200, "both nodes are ready again"
