"""One contract, every log: NATS JetStream, Redis Streams, the PostgreSQL outbox and Kafka (the noida-db emulator).

Each test runs once per source against its real server, with Herald as real
``herald serve`` processes on a fresh PostgreSQL database. Messages are
publish requests for 50 users, titled ``<user>#<n>``: 1,000 (20 each) for the
exactly-once and order test, 300 (6 each) for the fault tests, which keeps
the suite in minutes on a shared two-core machine (publishing runs at roughly
60 to 300 a second here, see docs/benchmarks.md). What Herald wrote is read
back from its database.
"""
from __future__ import annotations

import asyncio
import json
from typing import Callable

import httpx

from tests.herald_server import HeraldServer
from tests.integration.consume.conftest import Inboxes, eventually, metric
from tests.integration.consume.logs import Log, message
from tests.tcp_proxy import TcpProxy

USERS, EACH, FAULT_EACH = 50, 20, 6
TOTAL, FAULT_TOTAL = USERS * EACH, USERS * FAULT_EACH


def stream(each: int = EACH) -> list[tuple[str, bytes]]:
    """Round-robin over the users, so every batch mixes keys and each key's order is tested."""
    return [(f"user{i % USERS}", message(f"user{i % USERS}", i // USERS)) for i in range(USERS * each)]


def assert_each_once(titles: dict[str, list[str]], ordered: bool = True, each: int = EACH) -> None:
    assert sorted(titles) == sorted(f"user{u}" for u in range(USERS))
    for user, got in titles.items():
        expected = [f"{user}#{n}" for n in range(each)]
        assert sorted(got, key=lambda t: int(t.split("#")[1])) == expected, f"{user}: lost or twice: {got}"
        if ordered:
            assert got == expected, f"{user} out of order: {got}"


async def test_a_thousand_messages_arrive_once_each_in_user_order_and_poison_is_dead_lettered(
        log: Log, herald_database: str, inboxes: Inboxes, nodes: Callable[..., HeraldServer]) -> None:
    node = nodes(herald_database, log)
    poison = [("user0", b'["valid JSON", "but not a publish request"]'),
              ("user1", message("user1", 99, title="x" * 201)),  # over the title limit
              ("user2", json.dumps({"to": {"group": "nobody-made-this"}, "type": "t", "title": "t"}).encode())]
    batch = stream()
    # The poison sits among user0..2's messages: the rest of each of those keys must still flow.
    await log.produce(batch[:300] + poison + batch[300:])
    took = await inboxes.until(TOTAL, timeout=60)
    print(f"{log.name}: {TOTAL} messages into inboxes in {took:.2f} s")
    assert_each_once(await inboxes.titles())
    dead = {row["message_key"].rsplit(".", 1)[-1]: row for row in await eventually_async(inboxes.dead_letters, 3)}
    assert sorted(dead) == ["user0", "user1", "user2"] and {row["source"] for row in dead.values()} == {log.name}
    assert dead["user0"]["error"].startswith("invalid_request: Expected `object`")
    assert "title" in dead["user1"]["error"] and "x" * 201 in dead["user1"]["payload"]
    assert dead["user2"]["error"].startswith("not_found")
    # Everything is acked (the poison too), and the lag Herald reports comes back to zero.
    assert await eventually_async(lambda: _zero(log), True)
    assert await eventually(lambda: metric(node, "herald_consume_lag_messages", log.name) == 0)
    assert metric(node, "herald_consume_messages_total", log.name, outcome="published") == TOTAL
    assert metric(node, "herald_consume_messages_total", log.name, outcome="dead_lettered") == 3
    assert metric(node, "herald_consume_source_up", log.name) == 1
    ready = httpx.get(node.url + "/readyz").json()
    assert ready == {"status": "ok", "sources": {log.name: "ok"}}


async def test_a_node_killed_mid_stream_loses_and_duplicates_nothing(
        log: Log, herald_database: str, inboxes: Inboxes, nodes: Callable[..., HeraldServer]) -> None:
    a = nodes(herald_database, log)
    nodes(herald_database, log)  # a second node shares the work
    await log.produce(stream(FAULT_EACH))
    await inboxes.until(50, timeout=60)
    a.kill()  # kill -9: whatever it held is neither acked nor finished
    assert await inboxes.count() < FAULT_TOTAL, "the kill came too late to test anything"
    a.start()  # after restart (Kafka: the emulator hands a dead member's partitions over only when one joins)
    await inboxes.until(FAULT_TOTAL, timeout=90)
    assert await eventually_async(lambda: _zero(log), True, timeout=20)
    assert_each_once(await inboxes.titles(), ordered=log.ordered_across_nodes, each=FAULT_EACH)
    assert await inboxes.count() == FAULT_TOTAL, "a redelivered message notified twice"


async def test_the_source_restarted_mid_stream_loses_nothing(
        log: Log, herald_database: str, inboxes: Inboxes, nodes: Callable[..., HeraldServer]) -> None:
    node = nodes(herald_database, log)
    await log.produce(stream(FAULT_EACH))
    await inboxes.until(50, timeout=60)
    await asyncio.to_thread(log.restart, 1.0)
    assert await inboxes.count() < FAULT_TOTAL, "the restart came too late to test anything"
    await inboxes.until(FAULT_TOTAL, timeout=90)
    assert await eventually_async(lambda: _zero(log), True, timeout=20)
    assert_each_once(await inboxes.titles(), each=FAULT_EACH)
    assert await eventually(lambda: metric(node, "herald_consume_source_up", log.name) == 1)
    assert (metric(node, "herald_consume_errors_total", log.name, reason="source") or 0) >= 1, \
        "Herald noticed the source was gone"


OUTAGE_SECONDS = 10


async def test_herald_database_down_ten_seconds_pauses_consumption_then_it_catches_up(
        log: Log, herald_database: str, inboxes: Inboxes, nodes: Callable[..., HeraldServer]) -> None:
    with TcpProxy("127.0.0.1", 5432) as proxy:
        proxied = herald_database.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/")
        node = nodes(proxied, log)
        await log.produce(stream(FAULT_EACH))
        await inboxes.until(50, timeout=60)
        proxy.cut()
        await asyncio.sleep(1)  # what was in flight at the cut has settled
        held = await log.unacked()
        assert held > 0
        behind = await eventually(lambda: (metric(node, "herald_consume_lag_messages", log.name) or 0) > 0)
        assert behind, "the lag is reported while consumption is paused"
        assert (metric(node, "herald_consume_oldest_age_seconds", log.name) or 0) > 0
        written = await inboxes.count()
        await asyncio.sleep(OUTAGE_SECONDS - 1)
        # Paused: nothing acknowledged, nothing skipped, nothing dead-lettered for an outage.
        assert await log.unacked() == held
        assert await inboxes.count() == written
        assert (metric(node, "herald_consume_errors_total", log.name, reason="database") or 0) >= 1
        assert httpx.get(node.url + "/readyz", timeout=20).status_code == 503
        proxy.restore()
        await inboxes.until(FAULT_TOTAL, timeout=90)
        assert_each_once(await inboxes.titles(), each=FAULT_EACH)
        assert await inboxes.dead_letters() == []
        assert await eventually(lambda: metric(node, "herald_consume_lag_messages", log.name) == 0)
        assert metric(node, "herald_consume_oldest_age_seconds", log.name) == 0


async def _zero(log: Log) -> bool:
    return await log.unacked() == 0


async def eventually_async(check, expected=None, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    """Poll an async check until it returns ``expected`` (or, without one, ``len(...) == expected``)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        done = value == expected if isinstance(expected, bool) else len(value) >= (expected or 1)
        if done or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)
