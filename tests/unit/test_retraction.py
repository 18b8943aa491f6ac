"""Replace, retract and expiry in process, on both databases: what the inbox keeps and the changes it records."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from sqlalchemy import func, select

from herald.audience import Audience
from herald.db import Database, migrate
from herald.errors import HeraldError
from herald.fanout.base import BusEvent
from herald.fanout.memory import InProcessFanout
from herald.inbox import Inbox
from herald.metrics import Metrics
from herald.models import inbox_changes, inbox_items, notifications
from herald.publish import Publisher
from herald.retraction import Retractions
from herald.wire import Target, new_id, now_ms
from tests.herald_server import create_postgres_database, drop_postgres_database


class Bus(InProcessFanout):
    """The real in-process bus, which also keeps what it was offered."""

    def __init__(self) -> None:
        super().__init__()
        self.offered: list[BusEvent] = []

    async def publish(self, events: list[BusEvent]) -> None:
        self.offered.extend(events)
        await super().publish(events)


@pytest.fixture(params=["sqlite", "postgres"])
async def parts(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Inbox, Retractions, Bus]]:
    url = create_postgres_database() if request.param == "postgres" else f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    await asyncio.to_thread(migrate, url)
    db = Database(url)
    inbox, bus = Inbox(db, group_window_seconds=3600), Bus()
    metrics = Metrics()
    publisher = Publisher(db, inbox, Audience(db), bus, metrics, 3600)
    yield inbox, Retractions(db, inbox, Audience(db), publisher, metrics, sweep_interval_seconds=1), bus
    metrics.close()
    await db.close()
    if request.param == "postgres":
        drop_postgres_database(url)


async def publish(inbox: Inbox, users: list[str], title: str = "hello", **fields: Any) -> str:
    note = {"id": new_id(), "type": "t", "title": title, "body": "", "priority": "medium", "group_key": None,
            "url": None, "data": None, "actor": None, "producer": "p", "created_at": now_ms(),
            "target": {"users": users}, "recipients": len(users), **fields}
    async with inbox.db.write() as conn:
        await conn.execute(notifications.insert().values(**note))
        await inbox.deliver(conn, note, users)
    return str(note["id"])


async def items(inbox: Inbox, user: str) -> list[dict[str, Any]]:
    replayed = await inbox.items_after(user, 0, 100)
    return [json.loads(payload) for _, _, kind, payload in replayed if kind == "notification"]


async def test_a_replace_key_updates_the_one_item_in_place(parts: tuple[Inbox, Retractions, Bus]) -> None:
    inbox, _, _ = parts
    first = await publish(inbox, ["ann"], "confirmed", replace_key="order:1")
    await inbox.mark_read("ann", [first])
    await publish(inbox, ["ann"], "shipped", replace_key="order:1", data={"step": 2})
    (item,) = await items(inbox, "ann")
    assert (item["id"], item["title"], item["read"], item["data"]) == (first, "shipped", False, {"step": 2})
    assert item["replaceKey"] == "order:1"
    assert await inbox.last_seq("ann") == 3, "the item, the read change, the update"


async def test_retract_by_id_records_one_change_per_user_and_replays_no_item(
        parts: tuple[Inbox, Retractions, Bus]) -> None:
    inbox, retractions, bus = parts
    kept = await publish(inbox, ["ann"])
    doomed = await publish(inbox, ["ann", "bob"])
    assert await retractions.by_notification(doomed) == 2
    assert [i["id"] for i in await items(inbox, "ann")] == [kept] and await items(inbox, "bob") == []
    replay = await inbox.items_after("ann", 0, 100)
    assert [(kind, json.loads(body)) for _, _, kind, body in replay if kind == "retract"] == [
        ("retract", {"ids": [doomed], "unreadCount": 1, "reason": "retracted"})]
    assert sorted((e.kind, e.key, e.seq) for e in bus.offered) == [("retract", "ann", 3), ("retract", "bob", 2)]
    with pytest.raises(HeraldError) as again:
        await retractions.by_notification(doomed)
    assert again.value.status == 404


async def test_retract_by_key_only_touches_the_target(parts: tuple[Inbox, Retractions, Bus]) -> None:
    inbox, retractions, _ = parts
    await publish(inbox, ["ann", "bob"], replace_key="k")
    assert await retractions.by_replace_key("k", Target(users=["ann", "carl"])) == 1
    assert await items(inbox, "ann") == [] and len(await items(inbox, "bob")) == 1
    assert await retractions.by_replace_key("k", Target(all=True)) == 1
    with pytest.raises(HeraldError) as unknown:
        await retractions.by_replace_key("k", Target(all=True))
    assert (unknown.value.status, unknown.value.code) == (404, "not_found")


async def test_expired_items_are_hidden_at_once_and_swept_once_by_concurrent_sweepers(
        parts: tuple[Inbox, Retractions, Bus]) -> None:
    inbox, retractions, _ = parts
    users = [f"user{n}" for n in range(30)]
    await publish(inbox, users, "brief", expires_at=now_ms() - 1)
    kept = await publish(inbox, users, "stays", expires_at=now_ms() + 60_000)
    assert [i["id"] for i in await items(inbox, "user0")] == [kept], "readers skip it before any sweep"
    page = await inbox.page("user0", since=None, before=None, limit=10)
    assert [i.id for i in page.items] == [kept]
    removed = await asyncio.gather(*(retractions.expire_once() for _ in range(3)))
    assert sum(removed) == 30
    async with inbox.db.read() as conn:
        changes = (await conn.execute(select(func.count()).select_from(inbox_changes))).scalar()
        left = (await conn.execute(select(func.count()).select_from(inbox_items))).scalar()
    assert (changes, left) == (30, 30), "one retract per user, whichever sweep removed it"
    assert await retractions.expire_once() == 0


async def test_a_retract_racing_a_replace_of_the_same_item_never_deadlocks(
        parts: tuple[Inbox, Retractions, Bus]) -> None:
    inbox, retractions, _ = parts
    await publish(inbox, ["ann", "bob"], replace_key="k", expires_at=now_ms() + 60_000)

    async def retract() -> None:
        try:
            await retractions.by_replace_key("k", Target(users=["ann", "bob"]))
        except HeraldError as error:
            assert error.status == 404  # it ran when there was nothing to take back

    for _ in range(15):
        # Each publish locks the users, then updates the item; each retract must take the same order.
        await asyncio.gather(publish(inbox, ["ann", "bob"], replace_key="k"), retract(), retractions.expire_once())
    async with inbox.db.read() as conn:
        seqs = (await conn.execute(select(func.count()).select_from(inbox_items))).scalar()
    assert seqs is not None and seqs <= 2, "at most one item per user and key, whatever the interleaving"
