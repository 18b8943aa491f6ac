"""The scheduler in process, on both databases: accepting, sending once at its time, cancelling, the loop."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator

import msgspec
import pytest
from sqlalchemy import func, select

from herald.audience import Audience
from herald.db import Database, migrate
from herald.errors import HeraldError
from herald.fanout.memory import InProcessFanout
from herald.inbox import Inbox
from herald.metrics import Metrics
from herald.models import inbox_items, notifications, scheduled_notifications
from herald.publish import Publisher
from herald.schedule import MAX_AHEAD_MS, SKEW_MS, Scheduler, check_send_at, iso
from herald.wire import PublishRequest, Target, now_ms
from tests.herald_server import create_postgres_database, drop_postgres_database


class Node:
    """What one Herald process holds of scheduling: its own engine, publisher and scheduler."""

    def __init__(self, url: str, poll_seconds: float = 0.5) -> None:
        self.db = Database(url)
        self.fanout = InProcessFanout()
        self.publisher = Publisher(self.db, Inbox(self.db, 3600), Audience(self.db), self.fanout, Metrics(), 86400)
        self.scheduler = self.publisher.scheduler = Scheduler(self.db, self.publisher, Metrics(),
                                                              poll_seconds=poll_seconds)

    async def close(self) -> None:
        await self.scheduler.stop()
        await self.db.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    database = create_postgres_database() if request.param == "postgres" else f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    await asyncio.to_thread(migrate, database)
    yield database
    if request.param == "postgres":
        drop_postgres_database(database)


@pytest.fixture
async def node(url: str) -> AsyncIterator[Node]:
    made = Node(url)
    yield made
    await made.close()


def request(send_in_seconds: float, users: list[str] | None = None, **fields: Any) -> PublishRequest:
    at = datetime.now(timezone.utc) + timedelta(seconds=send_in_seconds)
    body = {"to": {"users": users or ["ann"]}, "type": "t", "title": "later", **fields}
    return msgspec.convert({**body, "sendAt": at.isoformat()}, PublishRequest)


async def count(db: Database, table: Any, *where: Any) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar() or 0)


async def status(db: Database, row_id: str) -> str:
    async with db.read() as conn:
        return str((await conn.execute(select(scheduled_notifications.c.status)
                                       .where(scheduled_notifications.c.id == row_id))).scalar())


async def make_due(db: Database, row_id: str) -> None:
    """Move a row's time to now, as if its time had come (no test waits for a real future)."""
    async with db.write() as conn:
        await conn.execute(scheduled_notifications.update().where(scheduled_notifications.c.id == row_id)
                           .values(send_at=now_ms()))


def test_the_api_refuses_a_send_at_in_the_past_or_beyond_30_days_and_forgives_a_second_of_skew() -> None:
    now = now_ms()
    at = lambda ms: msgspec.convert({"to": {"users": ["a"]}, "type": "t", "title": "x",  # noqa: E731
                                     "sendAt": iso(ms)}, PublishRequest)
    check_send_at(at(now - SKEW_MS + 5), now)
    check_send_at(at(now + MAX_AHEAD_MS), now)
    for wrong, words in ((now - SKEW_MS - 10, "in the past"), (now + MAX_AHEAD_MS + 1000, "30 days")):
        with pytest.raises(HeraldError) as caught:
            check_send_at(at(wrong), now)
        assert (caught.value.status, caught.value.code) == (400, "invalid_request") and words in caught.value.message


async def test_a_scheduled_publish_is_sent_once_at_its_time_with_the_id_it_was_promised(node: Node) -> None:
    accepted = await node.publisher.publish(request(60), "p")
    assert accepted.scheduled and accepted.recipients is None and accepted.send_at is not None
    assert await node.scheduler.send_due() == 0, "not before its time"
    assert await count(node.db, inbox_items) == 0
    await make_due(node.db, accepted.id)
    assert await node.scheduler.send_due() == 1
    assert await node.scheduler.send_due() == 0, "and only once"
    async with node.db.read() as conn:
        item = (await conn.execute(select(inbox_items.c.user_id, inbox_items.c.id))).one()
        producer = (await conn.execute(select(notifications.c.producer))).scalar()
    assert tuple(item) == ("ann", accepted.id) and producer == "p"
    assert await status(node.db, accepted.id) == "sent"


async def test_a_send_at_a_little_in_the_past_goes_out_at_once(node: Node) -> None:
    accepted = await node.publisher.publish(request(-0.5), "p")
    assert await node.scheduler.send_due() == 1
    assert await count(node.db, inbox_items, inbox_items.c.id == accepted.id) == 1


async def test_what_can_never_be_sent_is_refused_when_it_is_accepted(node: Node) -> None:
    for wrong, code in ((request(31 * 86400), "invalid_request"),
                        (msgspec.structs.replace(request(60), to=Target(group="nobody")), "not_found"),
                        (request(60, replaceKey="k\x00"), "invalid_request")):
        with pytest.raises(HeraldError) as caught:
            await node.publisher.publish(wrong, "p")
        assert caught.value.code == code
    assert await count(node.db, scheduled_notifications) == 0


async def test_the_same_idempotency_key_answers_as_the_first_time_and_stores_one(node: Node) -> None:
    first = await node.publisher.publish(request(60, idempotencyKey="k1"), "p")
    again = await node.publisher.publish(request(120, idempotencyKey="k1"), "p")
    assert again == first
    assert await count(node.db, scheduled_notifications) == 1
    await make_due(node.db, first.id)
    assert await node.scheduler.send_due() == 1, "the key claimed when it was scheduled does not stop its sending"


async def test_two_nodes_due_at_once_send_it_exactly_once(url: str) -> None:
    a, b = Node(url), Node(url)
    try:
        ids = [(await a.publisher.publish(request(60, users=[f"u{i}"]), "p")).id for i in range(30)]
        for row_id in ids:
            await make_due(a.db, row_id)
        sent = await asyncio.gather(a.scheduler.send_due(), b.scheduler.send_due(), a.scheduler.send_due())
        sent_later = await a.scheduler.send_due() + await b.scheduler.send_due()
        assert sum(sent) + sent_later == 30
        assert await count(a.db, inbox_items) == 30 and await count(a.db, notifications) == 30
    finally:
        await a.close()
        await b.close()


async def test_a_row_held_by_a_node_that_dies_before_its_commit_is_sent_by_the_other(url: str) -> None:
    if not url.startswith("postgresql"):
        pytest.skip("SQLite is one node: a second writer waits instead of skipping")
    a, b = Node(url), Node(url)
    try:
        accepted = await a.publisher.publish(request(60), "p")
        await make_due(a.db, accepted.id)
        with pytest.raises(RuntimeError):
            async with a.db.write() as conn:  # node a claims the row, then dies before its commit
                await conn.execute(select(scheduled_notifications).with_for_update()
                                   .where(scheduled_notifications.c.id == accepted.id))
                assert await b.scheduler.send_due() == 0, "b skips the row a holds, without waiting for it"
                raise RuntimeError("node a is gone")
        assert await b.scheduler.send_due() == 1
        assert await count(b.db, inbox_items) == 1
    finally:
        await a.close()
        await b.close()


async def test_a_cancelled_one_is_never_sent_and_cancelling_twice_or_after_sending_finds_nothing(node: Node) -> None:
    kept, cancelled = (await node.publisher.publish(request(60), "p")), (await node.publisher.publish(request(60), "p"))
    row = await node.scheduler.cancel(cancelled.id, "p2")
    assert row is not None and row.request["title"] == "later"
    assert await node.scheduler.cancel(cancelled.id, "p2") is None
    for row_id in (kept.id, cancelled.id):
        await make_due(node.db, row_id)
    assert await node.scheduler.send_due() == 1
    assert await count(node.db, inbox_items, inbox_items.c.id == cancelled.id) == 0
    assert await status(node.db, cancelled.id) == "cancelled"
    assert await node.scheduler.cancel(kept.id, "p") is None, "already sent"
    assert await node.scheduler.cancel("01ARZ3NDEKTSV4RRFFQ69G5FAV", "p") is None


async def test_cancelling_by_replace_key_takes_every_pending_one_or_those_of_exactly_that_target(node: Node) -> None:
    to_ann = await node.publisher.publish(request(60, users=["ann", "bob"], replaceKey="order:1"), "p")
    to_cat = await node.publisher.publish(request(60, users=["cat"], replaceKey="order:1"), "p")
    other = await node.publisher.publish(request(60, users=["ann"], replaceKey="order:2"), "p")
    assert await node.scheduler.cancel_by_key("order:1", Target(users=["bob", "ann"]), "p") == [to_ann.id]
    assert await node.scheduler.cancel_by_key("order:1", Target(users=["ann"]), "p") == []
    assert await node.scheduler.cancel_by_key("order:1", None, "p") == [to_cat.id]
    assert await node.scheduler.cancel_by_key("order:1", None, "p") == []
    assert [row.id for row in await node.scheduler.pending(10)] == [other.id]


async def test_one_whose_group_was_deleted_meanwhile_fails_and_holds_back_nothing(node: Node) -> None:
    await node.publisher.audience.put_group("team", ["ann"])
    doomed = await node.publisher.publish(msgspec.structs.replace(request(60), to=Target(group="team")), "p")
    fine = await node.publisher.publish(request(60, users=["bob"]), "p")
    await node.publisher.audience.delete_group("team")
    for row_id in (doomed.id, fine.id):
        await make_due(node.db, row_id)
    assert await node.scheduler.send_due() == 1
    assert await status(node.db, doomed.id) == "failed" and await status(node.db, fine.id) == "sent"
    async with node.db.read() as conn:
        error = (await conn.execute(select(scheduled_notifications.c.error)
                                    .where(scheduled_notifications.c.id == doomed.id))).scalar()
    assert "No group named 'team'" in str(error)


async def test_pending_ones_page_soonest_first_by_cursor(node: Node) -> None:
    ids = [(await node.publisher.publish(request(600 - 60 * i), "p")).id for i in range(5)]
    first = await node.scheduler.pending(2)
    rest = await node.scheduler.pending(10, first[-1].cursor)
    assert [row.id for row in first + rest] == ids[::-1]
    with pytest.raises(HeraldError) as caught:
        await node.scheduler.pending(2, "not-a-cursor")
    assert caught.value.code == "invalid_cursor"


async def test_the_loop_wakes_for_a_new_row_and_sends_it_within_a_second_of_its_time(url: str) -> None:
    node = Node(url, poll_seconds=60)  # so that only the wake and the exact sleep can make it on time
    try:
        await node.scheduler.start()
        await asyncio.sleep(0.2)  # the loop is asleep now, for a minute
        accepted = await node.publisher.publish(request(0.5), "p")
        due = datetime.fromisoformat(str(accepted.send_at).replace("Z", "+00:00")).timestamp()
        while await count(node.db, inbox_items, inbox_items.c.id == accepted.id) == 0:
            assert time.time() < due + 1.0, "not sent within a second of its time"
            await asyncio.sleep(0.02)
        assert time.time() >= due - 0.01, "not before its time"
    finally:
        await node.close()


async def test_a_loop_facing_a_row_another_node_holds_waits_instead_of_spinning(url: str) -> None:
    if not url.startswith("postgresql"):
        pytest.skip("SQLite is one node: a second writer waits instead of skipping")
    from sqlalchemy import event

    a, b = Node(url), Node(url, poll_seconds=60)
    statements = []
    event.listen(b.db.engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(1))
    try:
        accepted = await a.publisher.publish(request(60), "p")
        await make_due(a.db, accepted.id)
        async with a.db.write() as conn:  # node a is sending it, slowly
            await conn.execute(select(scheduled_notifications).with_for_update()
                               .where(scheduled_notifications.c.id == accepted.id))
            await b.scheduler.start()
            await asyncio.sleep(1.0)
            looked = len(statements)
        # A pass is three statements; every 50 ms for a second is some 60. A spin is hundreds at least.
        assert 5 < looked < 150, looked
        await eventually_sent(b.db, accepted.id)
    finally:
        await a.close()
        await b.close()


async def eventually_sent(db: Database, row_id: str) -> None:
    for _ in range(100):
        if await status(db, row_id) == "sent":
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{row_id} not sent once the other node let go of it")
