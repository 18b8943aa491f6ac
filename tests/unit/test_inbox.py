"""The inbox's write and read paths in process, on both databases: bulk fan-out, grouping, stream starts."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator

import pytest
from sqlalchemy import event, func, select

from herald.db import Database, migrate
from herald.delivery.starts import StartLoader
from herald.inbox import Inbox
from herald.models import inbox_items, notifications
from herald.wire import new_id, now_ms
from tests.herald_server import create_postgres_database, drop_postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
async def inbox(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Inbox]:
    url = create_postgres_database() if request.param == "postgres" else f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    await asyncio.to_thread(migrate, url)
    db = Database(url)
    yield Inbox(db, group_window_seconds=3600)
    await db.close()
    if request.param == "postgres":
        drop_postgres_database(url)


def note(**fields: object) -> dict[str, object]:
    base = {"id": new_id(), "type": "t", "title": "hello", "body": "", "priority": "medium", "group_key": None,
            "url": None, "data": None, "actor": None, "producer": "p", "created_at": now_ms(),
            "target": {"all": True}, "recipients": 0}
    return {**base, **fields}


async def publish(inbox: Inbox, users: list[str], **fields: object):  # type: ignore[no-untyped-def]
    n = note(**fields)
    async with inbox.db.write() as conn:
        await conn.execute(notifications.insert().values(**n))
        return await inbox.deliver(conn, n, users)


def count_statements(db: Database) -> list[str]:
    seen: list[str] = []
    event.listen(db.engine.sync_engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


async def test_a_fan_out_is_a_fixed_number_of_statements_whatever_its_size(inbox: Inbox) -> None:
    await publish(inbox, ["warm-up"])
    users = [f"u{i:05d}" for i in range(3000)]
    statements = count_statements(inbox.db)
    deliveries = await publish(inbox, users)
    assert len(statements) <= 6, statements
    assert sorted(d.user_id for d in deliveries) == users
    assert {d.seq for d in deliveries} == {1}, "each new user's first item takes seq 1"
    again = await publish(inbox, users[:10] + ["newcomer"])
    assert {d.user_id: d.seq for d in again} == {**{u: 2 for u in users[:10]}, "newcomer": 1}
    async with inbox.db.read() as conn:
        stored = (await conn.execute(select(func.count()).select_from(inbox_items))).scalar()
    assert stored == 1 + 3000 + 11


async def test_a_grouped_broadcast_updates_open_groups_in_place_and_inserts_for_the_rest(inbox: Inbox) -> None:
    first = await publish(inbox, ["a", "b", "c"], group_key="post:1", actor="anna")
    await inbox.mark_read("c", None)  # c read it: the next one starts a new item for c
    second = await publish(inbox, ["a", "b", "c", "d"], group_key="post:1", actor="ben")
    by_user = {d.user_id: d for d in second}
    first_id = {d.user_id: d for d in first}["a"].payload
    import msgspec

    items = {user: msgspec.json.decode(d.payload) for user, d in by_user.items()}
    assert items["a"]["id"] == items["b"]["id"] == msgspec.json.decode(first_id)["id"], "same id: updated in place"
    assert (items["a"]["groupCount"], items["a"]["actors"]) == (2, ["ben", "anna"])
    assert items["c"]["groupCount"] == items["d"]["groupCount"] == 1
    assert items["c"]["id"] != items["a"]["id"]
    # c's read took seq 2 (an inbox change), so its new item is 3.
    assert {u: d.seq for u, d in by_user.items()} == {"a": 2, "b": 2, "c": 3, "d": 1}
    page = await inbox.page("a", since=None, before=None, limit=10)
    assert [(item.group_count, item.actors) for item in page.items] == [(2, ["ben", "anna"])]


async def test_stream_starts_answer_many_users_in_one_query(inbox: Inbox) -> None:
    await publish(inbox, ["x", "y"])
    await publish(inbox, ["x"])
    await inbox.mark_read("y", None)
    statements = count_statements(inbox.db)
    starts = await inbox.stream_starts(["x", "y", "nobody"])
    assert len(statements) == 1
    # y's read-all is an inbox change: it took y's seq 2.
    assert {u: (s.last_seq, s.unread) for u, s in starts.items()} == {"x": (2, 2), "y": (2, 0), "nobody": (0, 0)}


async def test_concurrent_stream_opens_share_queries(inbox: Inbox) -> None:
    users = [f"s{i}" for i in range(300)]
    await publish(inbox, users)
    loader = StartLoader(inbox)
    statements = count_statements(inbox.db)
    starts = await asyncio.gather(*(loader.load(user) for user in users + users[:5]))
    assert [s.last_seq for s in starts] == [1] * 305
    assert len(statements) <= 4, "a burst of opens is answered by a few batched queries, not one each"
