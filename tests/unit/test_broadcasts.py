"""Fan-out on read (broadcasts.py): a broadcast's database work is the same for 10 users and for 2,000."""
from __future__ import annotations

import asyncio

from sqlalchemy import event, func, select

from herald.models import broadcasts, inbox_items, notifications, topic_follows_ended, users
from herald.services import Services
from herald.wire import PublishRequest, Target, now_ms
from tests.unit.test_publish import services  # noqa: F401 - the fixture: real services on each database, not started


async def add_users(services: Services, prefix: str, count: int, created_at: int) -> None:
    async with services.db.write() as conn:
        await conn.execute(users.insert(), [{"user_id": f"{prefix}{n}", "last_seq": 0, "pruned_seq": 0,
                                             "created_at": created_at} for n in range(count)])


async def broadcast_cost(services: Services) -> tuple[int, int]:
    """(statements, inbox rows written) of one publish to everyone."""
    seen: list[str] = []
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    event.listen(services.db.engine.sync_engine, "before_cursor_execute", listener)
    async with services.db.read() as conn:
        before = (await conn.execute(select(func.count()).select_from(inbox_items))).scalar()
    await services.publisher.publish(PublishRequest(to=Target(all=True), type="news", title="For everyone"), "p")
    await asyncio.gather(*services.publisher._tasks)  # what it left behind the 202 (the push audience) counts too
    event.remove(services.db.engine.sync_engine, "before_cursor_execute", listener)
    async with services.db.read() as conn:
        after = (await conn.execute(select(func.count()).select_from(inbox_items))).scalar()
    return len(seen), int(after or 0) - int(before or 0)


async def test_statements_and_rows_do_not_grow_with_the_audience(services: Services) -> None:
    await add_users(services, "small-", 10, now_ms() - 1000)
    small = await broadcast_cost(services)
    await add_users(services, "big-", 2000, now_ms() - 1000)
    big = await broadcast_cost(services)
    assert small == big and small[1] == 0, (small, big)
    async with services.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(broadcasts))).scalar() == 2


async def test_an_inbox_takes_each_broadcast_once_and_only_those_after_its_user(services: Services) -> None:
    await add_users(services, "old-", 1, now_ms() - 1000)
    first = await services.publisher.publish(PublishRequest(to=Target(all=True), type="n", title="one"), "p")
    await asyncio.sleep(0.002)
    await add_users(services, "new-", 1, now_ms())
    await asyncio.sleep(0.002)
    second = await services.publisher.publish(PublishRequest(to=Target(all=True), type="n", title="two"), "p")
    for _ in range(2):  # the second catch-up finds nothing left to copy
        await services.publisher.catch_up(["old-0", "new-0", "stranger"])
    async with services.db.read() as conn:
        rows = sorted((await conn.execute(select(inbox_items.c.user_id, inbox_items.c.id))).all())
        marks = dict((await conn.execute(select(users.c.user_id, users.c.broadcast_mark))).all())
    assert rows == sorted([("old-0", first.id), ("old-0", second.id), ("new-0", second.id)])
    assert marks == {"old-0": 2, "new-0": 2, "stranger": 2}  # a user new to Herald starts at the head


async def test_a_topic_follow_ending_later_keeps_what_came_while_following(services: Services) -> None:
    """The catch-up's topic rule (the audience at publish time), for broadcasts recorded with a topic."""
    now = now_ms()
    await add_users(services, "f-", 2, now - 10_000)
    async with services.db.write() as conn:
        await conn.execute(services.db.insert(topic_follows_ended).values(
            topic="deals", user_id="f-0", followed_at=now - 9_000, ended_at=now - 5_000))
        note = {"id": "01J0000000000000000000DEAL", "type": "t", "title": "deal", "body": "", "priority": "medium",
                "target": {"topic": "deals"}, "recipients": 1, "producer": "p", "created_at": now - 7_000}
        await conn.execute(notifications.insert().values(**note))
        await services.broadcasts.record(conn, note["id"], "deals", note["created_at"])
    await services.publisher.catch_up(["f-0", "f-1"])
    async with services.db.read() as conn:
        rows = (await conn.execute(select(inbox_items.c.user_id).where(inbox_items.c.id == note["id"]))).scalars()
        assert list(rows) == ["f-0"]  # followed then (unfollowed since); f-1 never followed
