"""The consumer loop on a log kept in memory, publishing through the real Publisher into a real SQLite inbox.

The memory log is a sibling ``Source`` like the real ones (fetch what is not
acked or in hand, redeliver what is given back), so what is asserted here is
the loop's own contract: key order, exactly one notification per message,
dead letters, acks only after the commit, backpressure.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import AsyncIterator, Sequence

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from herald.consume.base import Consumer, Lag, Message, Options, Poison, Retry, Source, classify, parse
from herald.consume.dead_letters import DeadLetters
from herald.db import migrate
from herald.errors import not_found, too_many_requests, unavailable
from herald.models import consume_dead_letters
from herald.services import Services
from herald.settings import load_settings

FAST = Options(batch_size=20, concurrency=4, poll_seconds=0.05, retry_base_seconds=0.01, retry_max_seconds=0.05,
               max_attempts=3, lag_interval_seconds=0.05)


class MemoryLog(Source):
    name = "memory"

    def __init__(self) -> None:
        self.entries: list[Message] = []
        self.acked: list[str] = []
        self.in_hand: set[str] = set()
        self.fail_next_ack = 0
        self.abandoned = 0

    def add(self, key: str, body: bytes | dict, source_id: str | None = None) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.entries.append(Message(source_id or f"m{len(self.entries)}", key, raw))

    async def open(self) -> None:
        pass

    async def fetch(self, max_messages: int, wait_seconds: float) -> list[Message]:
        ready = [m for m in self.entries if m.source_id not in self.acked and m.source_id not in self.in_hand]
        batch = [Message(m.source_id, m.key, m.body) for m in ready[:max_messages]]  # a fresh delivery each time
        self.in_hand |= {m.source_id for m in batch}
        if not batch:
            await asyncio.sleep(wait_seconds)
        return batch

    async def ack(self, messages: Sequence[Message]) -> None:
        if self.fail_next_ack:
            self.fail_next_ack -= 1
            raise ConnectionError("the log went away")
        self.acked += [m.source_id for m in messages]
        self.in_hand -= {m.source_id for m in messages}

    async def abandon(self, messages: Sequence[Message]) -> None:
        self.abandoned += 1
        self.in_hand.clear()

    async def lag(self) -> Lag:
        return Lag(len(self.entries) - len(set(self.acked)), 1.5)

    async def close(self) -> None:
        pass


def note(user: str, n: int, **extra: object) -> dict:
    return {"to": {"users": [user]}, "type": "t", "title": f"{user}#{n}", **extra}


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    settings = load_settings({"HERALD_DATA_DIR": str(tmp_path), "HERALD_PUBLISH_RATE_PER_SECOND": "0"})
    await asyncio.to_thread(migrate, settings.effective_database_url)
    built = Services.build(settings)
    await built.start()
    yield built
    await built.stop()


async def run(consumer: Consumer, log: MemoryLog, until_acked: int, timeout: float = 15) -> None:
    await consumer.start()
    try:
        for _ in range(int(timeout / 0.02)):
            if len(set(log.acked)) >= until_acked:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{len(set(log.acked))} of {until_acked} acked")
    finally:
        await consumer.stop()


async def inbox(services: Services) -> dict[str, list[str]]:
    async with services.db.read() as conn:
        rows = await conn.execute(text("SELECT i.user_id, n.title FROM inbox_items i JOIN notifications n "
                                       "ON n.id = i.notification_id ORDER BY i.user_id, i.seq"))
        result: dict[str, list[str]] = {}
        for user, title in rows:
            result.setdefault(user, []).append(title)
        return result


def consumer_for(services: Services, log: MemoryLog, options: Options = FAST) -> Consumer:
    return Consumer(log, services.publisher, DeadLetters(services.db), services.metrics, options)


async def test_one_keys_messages_go_one_at_a_time_in_order_while_keys_run_side_by_side(services: Services) -> None:
    log = MemoryLog()
    for n in range(10):
        for user in ("a", "b", "c"):
            log.add(user, note(user, n))
    active: dict[str, int] = {}
    most_at_once = 0
    real = services.publisher.publish

    async def watched(request, producer):  # type: ignore[no-untyped-def]
        nonlocal most_at_once
        user = request.to.users[0]
        active[user] = active.get(user, 0) + 1
        assert active[user] == 1, f"two messages of {user} published at once"
        most_at_once = max(most_at_once, sum(active.values()))
        try:
            await asyncio.sleep(0.005)
            return await real(request, producer)
        finally:
            active[user] -= 1

    services.publisher.publish = watched  # type: ignore[method-assign]
    await run(consumer_for(services, log), log, 30)
    assert most_at_once > 1, "different keys were published side by side"
    assert await inbox(services) == {u: [f"{u}#{n}" for n in range(10)] for u in "abc"}


async def test_a_redelivered_message_notifies_once_and_its_own_idempotency_key_wins(services: Services) -> None:
    log = MemoryLog()
    log.add("a", note("a", 0), source_id="s1")
    log.add("a", note("a", 0), source_id="s1")  # the same message delivered twice
    log.add("b", note("b", 0, idempotencyKey="order-7"), source_id="s2")
    log.add("b", note("b", 0, idempotencyKey="order-7"), source_id="s3")  # a producer's retry: two entries
    await run(consumer_for(services, log), log, 3)
    assert await inbox(services) == {"a": ["a#0"], "b": ["b#0"]}


async def test_poison_is_dead_lettered_with_its_error_and_its_key_keeps_flowing(services: Services) -> None:
    log = MemoryLog()
    log.add("a", note("a", 0))
    log.add("a", b"{not json")
    log.add("a", note("a", 1, title="x" * 201))
    log.add("a", {"to": {"group": "nobody"}, "type": "t", "title": "t"})
    log.add("a", note("a", 2))
    await run(consumer_for(services, log), log, 5)
    assert await inbox(services) == {"a": ["a#0", "a#2"]}
    async with services.db.read() as conn:
        dead = list(await conn.execute(select(consume_dead_letters).order_by(consume_dead_letters.c.id)))
    assert [(row.source, row.source_id, row.message_key) for row in dead] == [
        ("memory", "m1", "a"), ("memory", "m2", "a"), ("memory", "m3", "a")]
    assert dead[0].error.startswith("invalid_json") or "malformed" in dead[0].error
    assert "title" in dead[1].error and dead[2].error.startswith("not_found")
    assert dead[0].payload == "{not json" and dead[0].attempts == 1


async def test_an_outage_leaves_messages_unacked_and_publishes_them_in_order_once_it_ends(services: Services) -> None:
    log = MemoryLog()
    for n in range(4):
        log.add("a", note("a", n))
    real, failures = services.publisher.publish, [3]
    acked_during: list[set[str]] = []

    async def down_for_a_while(request, producer):  # type: ignore[no-untyped-def]
        if request.title == "a#1" and failures[0]:
            failures[0] -= 1
            acked_during.append(set(log.acked))
            raise OperationalError("INSERT", {}, ConnectionRefusedError("the database is gone"))
        return await real(request, producer)

    services.publisher.publish = down_for_a_while  # type: ignore[method-assign]
    consumer = consumer_for(services, log)
    await run(consumer, log, 4)
    # a#0 committed and is acked; a#1 and what follows it on the key wait, unacked, until the database is back.
    assert acked_during == [set(), {"m0"}, {"m0"}]
    assert await inbox(services) == {"a": ["a#0", "a#1", "a#2", "a#3"]}
    assert services.metrics.consume_errors.labels("memory", "database")._value.get() == 3
    async with services.db.read() as conn:
        assert list(await conn.execute(select(consume_dead_letters))) == [], "an outage is never a dead letter"


async def test_an_unknown_failure_is_retried_then_dead_lettered_after_max_attempts(services: Services) -> None:
    log = MemoryLog()
    log.add("a", note("a", 0))
    log.add("a", note("a", 1))
    real = services.publisher.publish

    async def buggy(request, producer):  # type: ignore[no-untyped-def]
        if request.title == "a#0":
            raise RuntimeError("a bug in a publish path")
        return await real(request, producer)

    services.publisher.publish = buggy  # type: ignore[method-assign]
    await run(consumer_for(services, log), log, 2)
    assert await inbox(services) == {"a": ["a#1"]}
    async with services.db.read() as conn:
        (dead,) = list(await conn.execute(select(consume_dead_letters)))
    assert dead.attempts == 3 and dead.error.startswith("gave up after 3 attempts")


async def test_a_failed_ack_gives_the_batch_back_and_the_second_delivery_notifies_nobody_again(
        services: Services) -> None:
    log = MemoryLog()
    for n in range(3):
        log.add("a", note("a", n))
    log.fail_next_ack = 1
    consumer = consumer_for(services, log)
    await run(consumer, log, 3)
    assert log.abandoned == 1
    assert await inbox(services) == {"a": ["a#0", "a#1", "a#2"]}
    assert services.metrics.consume_errors.labels("memory", "source")._value.get() >= 1


async def test_lag_is_reported_per_source(services: Services) -> None:
    log = MemoryLog()
    log.add("a", note("a", 0))
    consumer = consumer_for(services, log)
    await run(consumer, log, 1)
    assert consumer.last_lag is not None and consumer.last_lag.messages in (0, 1)
    text_metrics = services.metrics.render().decode()
    assert 'herald_consume_lag_messages{source="memory"}' in text_metrics
    assert 'herald_consume_source_up{source="memory"} 1.0' in text_metrics


def test_the_source_id_is_the_idempotency_key_unless_the_message_names_one() -> None:
    assert parse(Message("nats:S:7", "k", json.dumps(note("u", 0)).encode())).idempotency_key == "nats:S:7"
    own = parse(Message("nats:S:8", "k", json.dumps(note("u", 0, idempotencyKey="mine")).encode()))
    assert own.idempotency_key == "mine"
    long = parse(Message("kafka:" + "t" * 240 + ":0:1", "k", json.dumps(note("u", 0)).encode()))
    assert long.idempotency_key is not None and long.idempotency_key.startswith("sha256:")
    live = parse(Message("s", "k", json.dumps({"to": {"channel": "c"}, "persist": False, "type": "t",
                                               "title": "t"}).encode()))
    assert live.idempotency_key is None, "a live event has no inbox, so no idempotency key"
    with pytest.raises(Poison, match="invalid_request"):
        parse(Message("s", "k", b'{"to": {"users": ["u"], "group": "g"}, "type": "t", "title": "t"}'))


def test_failures_are_sorted_into_retries_and_poison() -> None:
    limited = classify(too_many_requests("slow down", 7))
    assert isinstance(limited, Retry) and limited.reason == "rate_limited" and limited.wait_seconds == 7
    assert isinstance(classify(unavailable("bus down")), Retry)
    assert isinstance(classify(not_found("No group named 'x'.")), Poison)
    assert isinstance(classify(OperationalError("SELECT 1", {}, OSError("refused"))), Retry)
    assert isinstance(classify(ConnectionResetError()), Retry)
    assert classify(RuntimeError("bug")) is None


async def test_a_message_with_send_at_is_scheduled_and_one_late_from_the_log_goes_out_at_once(
        services: Services) -> None:
    from datetime import datetime, timedelta, timezone

    def at(seconds: float) -> str:
        return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()

    log = MemoryLog()
    log.add("a", note("a", 0, sendAt=at(-300)))  # waited in the log past its time
    log.add("a", note("a", 1, sendAt=at(1)))
    log.add("a", note("a", 2, sendAt=at(31 * 86400)))  # never valid: a dead letter
    await run(consumer_for(services, log), log, until_acked=3)
    for _ in range(150):
        if (await inbox(services)).get("a") == ["a#0", "a#1"]:
            break
        await asyncio.sleep(0.02)
    assert (await inbox(services)).get("a") == ["a#0", "a#1"]
    async with services.db.read() as conn:
        errors = list((await conn.execute(select(consume_dead_letters.c.error))).scalars())
    assert len(errors) == 1 and "30 days" in errors[0]
