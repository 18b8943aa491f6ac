"""Scheduled delivery with two nodes on PostgreSQL and Redis: each notification exactly once, and on time when
the node that accepted it is gone."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.herald_server import HeraldServer, RedisServer, create_postgres_database, drop_postgres_database
from tests.integration.scheduling import at, epoch, inbox_ids
from tests.scrape import metric
from tests.sse_client import Stream, open_stream


@pytest.fixture
def nodes(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[HeraldServer, HeraldServer]]:
    database = create_postgres_database()
    a = HeraldServer(tmp_path / "a", database, HERALD_REDIS_URL=redis_server.url).start()
    b = HeraldServer(tmp_path / "b", database, HERALD_REDIS_URL=redis_server.url,
                     HERALD_MIGRATE_ON_START="false").start()
    yield a, b
    a.stop()
    b.stop()
    drop_postgres_database(database)


async def collect(stream: Stream, into: list[str], seconds: float) -> None:
    """Every notification id the stream gets within ``seconds``."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = await stream.until("notification", timeout=left)
        except (TimeoutError, asyncio.TimeoutError):
            return
        into.append(event.json()["id"])


async def test_with_two_nodes_running_each_scheduled_notification_arrives_exactly_once(
        nodes: tuple[HeraldServer, HeraldServer], user_id: str) -> None:
    a, b = nodes
    when = at(2.0)  # every one due at the same moment, so both nodes reach for each
    ids = []
    with httpx.Client(headers=a.headers(), timeout=10) as client:
        for i in range(20):
            node = (a, b)[i % 2]
            answer = client.post(node.url + "/api/publish", json={
                "to": {"users": [user_id]}, "type": "t", "title": f"#{i}", "sendAt": when})
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["id"])
    on_a: list[str] = []
    on_b: list[str] = []
    async with open_stream(a.url, a.token(user_id)) as stream_a, open_stream(b.url, b.token(user_id)) as stream_b:
        await stream_a.until("ready")
        await stream_b.until("ready")
        await asyncio.gather(collect(stream_a, on_a, 5.0), collect(stream_b, on_b, 5.0))
    assert sorted(on_a) == sorted(ids) and sorted(on_b) == sorted(ids), "every one live once on each node"
    assert sorted(inbox_ids(a, user_id)) == sorted(ids)
    rows = a.sql("SELECT count(*) FROM notifications WHERE id = ANY(:ids)", ids=ids)
    assert rows == [(20,)]
    sent = [metric(node, "herald_scheduled_total", '{outcome="sent"}') for node in (a, b)]
    assert sum(sent) == 20, f"sent by a and b: {sent}"


async def test_when_the_node_that_accepted_it_is_killed_the_other_sends_it_on_time(
        nodes: tuple[HeraldServer, HeraldServer], user_id: str) -> None:
    a, b = nodes
    answer = httpx.post(a.url + "/api/publish", headers=a.headers(), json={
        "to": {"users": [user_id]}, "type": "t", "title": "failover", "sendAt": at(2.0)})
    accepted = answer.json()
    a.kill()
    async with open_stream(b.url, b.token(user_id)) as stream:
        await stream.until("ready")
        event = await stream.until("notification", timeout=10)
        lateness = time.time() - epoch(accepted["sendAt"])
    assert event.json()["id"] == accepted["id"]
    assert lateness < 1.0, f"the surviving node sent it {lateness:.3f} s after its time"
    print(f"\nfailover: the other node sent it {lateness * 1000:.0f} ms after its sendAt")
