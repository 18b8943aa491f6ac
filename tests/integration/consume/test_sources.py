"""What each source does on its own: claims and redeliveries without a restart, the outbox's commit rule,
readiness while a source is down, and ``herald consume`` as a process of its own."""
from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import asyncpg
import httpx
import pytest

from tests.herald_server import HeraldServer, free_port
from tests.integration.consume.conftest import FAST, Inboxes, eventually, metric
from tests.integration.consume.logs import NatsLog, OutboxLog, RedisLog, message
from tests.sse_client import open_stream

USERS = 50


def some(each: int) -> list[tuple[str, bytes]]:
    return [(f"user{i % USERS}", message(f"user{i % USERS}", i // USERS)) for i in range(USERS * each)]


@pytest.fixture
def redis_log(tmp_path: Path):  # type: ignore[no-untyped-def]
    made = RedisLog(tmp_path / "log")
    yield made
    made.close()


@pytest.fixture
def nats_log(tmp_path: Path):  # type: ignore[no-untyped-def]
    made = NatsLog(tmp_path / "log")
    yield made
    made.close()


@pytest.fixture
def outbox_log(tmp_path: Path):  # type: ignore[no-untyped-def]
    made = OutboxLog(tmp_path / "log")
    yield made
    made.close()


async def test_redis_entries_a_dead_node_left_pending_are_claimed_by_the_other_without_a_restart(
        redis_log: RedisLog, herald_database: str, inboxes: Inboxes, nodes: Callable[..., HeraldServer]) -> None:
    from redis.asyncio import Redis

    a = nodes(herald_database, redis_log)
    nodes(herald_database, redis_log)
    await redis_log.produce(some(6))
    await inboxes.until(50, timeout=60)
    a.kill()  # never restarted: node1 must XAUTOCLAIM what node0 held
    await inboxes.until(300, timeout=60)
    async with Redis.from_url(redis_log.url) as redis:
        consumers = {c["name"].decode(): c["pending"] for c in await redis.xinfo_consumers(redis_log.stream, "herald")}
    assert consumers.get("node0", 0) == 0 and await redis_log.unacked() == 0
    assert await inboxes.count() == 300


async def test_nats_messages_a_dead_node_held_are_redelivered_to_the_other_after_the_ack_wait(
        nats_log: NatsLog, herald_database: str, inboxes: Inboxes, nodes: Callable[..., HeraldServer]) -> None:
    a = nodes(herald_database, nats_log)
    nodes(herald_database, nats_log)
    await nats_log.produce(some(6))
    await inboxes.until(50, timeout=60)
    a.kill()
    await inboxes.until(300, timeout=60)
    assert await eventually_zero(nats_log)
    assert await inboxes.count() == 300


async def eventually_zero(log) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(100):
        if await log.unacked() == 0:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_an_outbox_row_notifies_only_if_its_transaction_commits_and_notify_wakes_herald_at_once(
        outbox_log: OutboxLog, herald_database: str, inboxes: Inboxes, nodes: Callable[..., HeraldServer]) -> None:
    # Polling every 30 s: anything sooner was woken by the NOTIFY of the commit.
    nodes(herald_database, outbox_log, HERALD_CONSUME_POLL_SECONDS="30")
    conn = await asyncpg.connect(outbox_log.direct)
    try:
        await asyncio.sleep(0.5)  # the LISTEN is in place once the node is ready; give its first poll a moment
        tx = conn.transaction()
        await tx.start()
        await conn.execute("INSERT INTO herald_outbox (key, payload) VALUES ('u1', $1::jsonb)",
                           message("u1", 0, title="rolled back").decode())
        await tx.rollback()
        started = time.monotonic()
        async with conn.transaction():
            await conn.execute("INSERT INTO herald_outbox (key, payload) VALUES ('u1', $1::jsonb)",
                               message("u1", 1).decode())
        await inboxes.until(1, timeout=10)
        assert time.monotonic() - started < 5, "woken by NOTIFY, not by the 30 s poll"
        assert await inboxes.titles() == {"u1": ["u1#1"]}
        # The delete commits just after Herald's own commit made the item visible: wait for it.
        for _ in range(100):
            if await conn.fetchval("SELECT count(*) FROM herald_outbox") == 0:
                break
            await asyncio.sleep(0.05)
        assert await conn.fetchval("SELECT count(*) FROM herald_outbox") == 0, "published rows are deleted"
    finally:
        await conn.close()


async def test_a_node_whose_source_is_down_stays_ready_says_which_and_still_takes_http_publishes(
        nats_log: NatsLog, herald_database: str, inboxes: Inboxes, nodes: Callable[..., HeraldServer]) -> None:
    node = nodes(herald_database, nats_log)
    assert await eventually(lambda: httpx.get(node.url + "/readyz").json() == {"status": "ok", "sources": {"nats": "ok"}})
    nats_log.server.stop(signal.SIGKILL)
    ready = await eventually(lambda: httpx.get(node.url + "/readyz").json()["status"] == "degraded")
    assert ready
    body = httpx.get(node.url + "/readyz")
    assert body.status_code == 200 and body.json()["sources"]["nats"].startswith("unreachable")
    assert metric(node, "herald_consume_source_up", "nats") == 0
    node.publish(to={"users": ["http-user"]}, type="t", title="over HTTP while NATS is down")
    assert await inboxes.titles() == {"http-user": ["over HTTP while NATS is down"]}
    nats_log.server.start()
    assert await eventually(lambda: httpx.get(node.url + "/readyz").json()["status"] == "ok", timeout=20)


async def test_herald_consume_runs_alone_and_its_notifications_reach_a_serving_node_live(
        nats_log: NatsLog, herald_database: str, nodes: Callable[..., HeraldServer], tmp_path: Path) -> None:
    redis = {"HERALD_REDIS_URL": "redis://127.0.0.1:6379/0"}
    serving = HeraldServer(tmp_path / "serving", herald_database, **redis)
    serving.start()
    port = free_port()
    env = {**serving.env, **FAST, **nats_log.env, "HERALD_PORT": str(port), "HERALD_MIGRATE_ON_START": "false"}
    consumer = subprocess.Popen([sys.executable, "-m", "herald.cli", "consume"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ops = f"http://127.0.0.1:{port}"
        assert await eventually(lambda: _ready(ops) == 200, timeout=30)
        async with open_stream(serving.url, serving.token("live-user")) as stream:
            await stream.until("ready")
            await nats_log.produce([("live-user", message("live-user", 0))])
            assert (await stream.until("notification", timeout=15)).json()["title"] == "live-user#0"
        nats_log.server.stop(signal.SIGKILL)
        # Consuming is all this process does: without its source it is not ready, and says why.
        assert await eventually(lambda: _ready(ops) == 503, timeout=15)
        refused = httpx.get(ops + "/readyz").json()
        assert refused["error"] == "unavailable" and "nats" in refused["message"]
        assert httpx.get(ops + "/api/notifications").status_code == 404, "no API on a consume process"
    finally:
        consumer.send_signal(signal.SIGTERM)
        consumer.wait(15)
        serving.stop()


def _ready(url: str) -> int:
    try:
        return httpx.get(url + "/readyz", timeout=5).status_code
    except httpx.HTTPError:
        return 0


def test_herald_consume_refuses_to_start_without_a_source_or_without_redis(tmp_path: Path) -> None:
    base = {"PATH": "/usr/bin:/bin", "HERALD_DATA_DIR": str(tmp_path)}
    none = subprocess.run([sys.executable, "-m", "herald.cli", "consume"], env=base, capture_output=True, text=True)
    assert none.returncode == 2 and "no log source is configured" in none.stderr
    alone = subprocess.run([sys.executable, "-m", "herald.cli", "consume"], capture_output=True, text=True,
                           env={**base, "HERALD_CONSUME_NATS_URL": "nats://127.0.0.1:1"})
    assert alone.returncode == 2 and "HERALD_REDIS_URL" in alone.stderr
    ddl = subprocess.run([sys.executable, "-m", "herald.cli", "consume", "--outbox-ddl"], env=base,
                         capture_output=True, text=True)
    assert ddl.returncode == 0 and "CREATE TABLE IF NOT EXISTS herald_outbox" in ddl.stdout
    json.dumps(ddl.stdout)  # printable as is
