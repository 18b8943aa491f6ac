"""Inbox changes in process, on both databases: a change takes the next sequence number and replays beside items."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import AsyncIterator

import pytest
from sqlalchemy import func, select

from herald.db import Database, migrate
from herald.inbox import CHANGE_RANK, Inbox
from herald.models import inbox_changes, notifications, users
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


async def publish(inbox: Inbox, user: str, title: str = "hello") -> str:
    note = {"id": new_id(), "type": "t", "title": title, "body": "", "priority": "medium", "group_key": None,
            "url": None, "data": None, "actor": None, "producer": "p", "created_at": now_ms(),
            "target": {"users": [user]}, "recipients": 1}
    async with inbox.db.write() as conn:
        await conn.execute(notifications.insert().values(**note))
        await inbox.deliver(conn, note, [user])
    return str(note["id"])


async def test_marking_read_records_a_change_at_the_next_sequence_number(inbox: Inbox) -> None:
    first, second = await publish(inbox, "ann"), await publish(inbox, "ann")
    change, unread = await inbox.mark_read("ann", [first])  # type: ignore[misc]
    assert unread == 1
    assert (change.seq, change.kind, change.rank) == (3, "read", CHANGE_RANK)
    assert json.loads(change.payload) == {"ids": [first], "unreadCount": 1}
    assert await inbox.last_seq("ann") == 3
    # Reading what is read already changes nothing, so it records nothing.
    again, _ = await inbox.mark_read("ann", [first])  # type: ignore[misc]
    assert again is None and await inbox.last_seq("ann") == 3
    everything, _ = await inbox.mark_read("ann", None)  # type: ignore[misc]
    assert everything.seq == 4 and json.loads(everything.payload) == {"all": True, "unreadCount": 0}
    assert second


async def test_a_replay_merges_items_and_changes_in_order_and_pages_without_a_hole(inbox: Inbox) -> None:
    ids = []
    for i in range(4):
        ids.append(await publish(inbox, "ann", f"n{i}"))
        await inbox.mark_read("ann", [ids[-1]])
    rows = await inbox.items_after("ann", 0, 100)
    assert [(seq, kind) for seq, _, kind, _ in rows] == [(s, "notification" if s % 2 else "read") for s in range(1, 9)]
    # Paging by 3 covers 1..8 with no sequence number skipped or repeated.
    seen, after = [], 0
    while page := await inbox.items_after("ann", after, 3):
        seen += [row[0] for row in page]
        after = page[-1][0]
    assert seen == list(range(1, 9))
    assert [row[0] for row in await inbox.items_after("ann", 2, 100, until=5)] == [3, 4, 5]


async def test_a_since_page_carries_the_changes_among_its_cursors(inbox: Inbox) -> None:
    first = await publish(inbox, "ann")
    await publish(inbox, "ann")
    await inbox.mark_read("ann", [first])
    page = await inbox.page("ann", since=1, before=None, limit=50)
    assert [item.title for item in page.items] == ["hello"] and page.seqs == [2, 3]
    assert [(c.seq, c.kind, json.loads(c.body)["ids"]) for c in page.changes] == [(3, "read", [first])]
    newest = await inbox.page("ann", since=None, before=None, limit=50)
    assert newest.changes == [] and [item.read for item in newest.items] == [False, True]


async def test_pruning_removes_old_changes_and_moves_the_retention_floor(inbox: Inbox) -> None:
    first = await publish(inbox, "ann")
    await inbox.mark_read("ann", [first])
    await inbox.prune(now_ms() + 1000)
    async with inbox.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(inbox_changes))).scalar() == 0
        assert (await conn.execute(select(users.c.pruned_seq).where(users.c.user_id == "ann"))).scalar() == 2
