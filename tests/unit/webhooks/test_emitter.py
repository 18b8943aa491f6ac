"""Emitting: nothing is kept when no endpoint listens, events reach only their producer's endpoints, the buffer is bounded."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator

import msgspec
import pytest
from sqlalchemy import text

from herald.db import Database, migrate
from herald.metrics import Metrics
from herald.webhooks import emitter as emitter_module
from herald.webhooks.emitter import Emitter
from herald.webhooks.endpoints import EndpointStore


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'herald.db'}"
    await asyncio.to_thread(migrate, url)
    database = Database(url)
    async with database.write() as conn:
        for seq, (note, producer) in enumerate((("n-mine", "producer-a"), ("n-theirs", "producer-b")), 1):
            await conn.execute(text(
                "INSERT INTO notifications (id, type, title, body, priority, target, recipients, producer, created_at)"
                " VALUES (:n, 't', 'x', '', 'medium', '{}', 1, :p, 1)"), {"n": note, "p": producer})
            await conn.execute(text(
                "INSERT INTO inbox_items (user_id, id, seq, notification_id, group_count, read, created_at,"
                " updated_at) VALUES ('anna', :n, :s, :n, 1, false, 1, 1)"), {"n": note, "s": seq})
    yield database
    await database.close()


async def queued(db: Database) -> list[tuple[str, str, dict[str, object]]]:
    async with db.read() as conn:
        rows = await conn.execute(text("SELECT endpoint_id, type, body FROM webhook_deliveries ORDER BY type"))
        return [(endpoint, kind, msgspec.json.decode(body)) for endpoint, kind, body in rows]


async def test_with_no_endpoint_emitting_keeps_nothing(db: Database) -> None:
    store = EndpointStore(db, production=False)
    emitter = Emitter(db, Metrics(), store, lambda: None)
    await store.refresh()
    emitter.emit("read", user_id="anna", item_id="n-mine")
    assert emitter._pending == []  # the in-memory gate: not even a buffer entry
    await emitter.flush()
    assert await queued(db) == []


async def test_an_event_goes_to_its_producers_endpoints_that_want_its_type(db: Database) -> None:
    store = EndpointStore(db, production=False)
    woken = []
    emitter = Emitter(db, Metrics(), store, lambda: woken.append(1))
    mine, _ = await store.create("producer-a", "http://127.0.0.1:9/a", ["read"], "alice")
    await store.create("producer-a", "http://127.0.0.1:9/b", ["delivered"], "alice")
    await store.create("producer-b", "http://127.0.0.1:9/c", ["read"], "alice")
    emitter.emit("read", {"readAt": 5}, user_id="anna", item_id="n-mine")
    await emitter.flush()
    rows = await queued(db)
    assert [(endpoint, kind) for endpoint, kind, _ in rows] == [(mine.id, "read")]
    body = rows[0][2]
    assert body["type"] == "read" and body["data"] == {"notificationId": "n-mine", "userId": "anna",
                                                       "itemId": "n-mine", "readAt": 5}
    assert woken


async def test_a_disabled_endpoint_gets_nothing_new(db: Database) -> None:
    store = EndpointStore(db, production=False)
    emitter = Emitter(db, Metrics(), store, lambda: None)
    endpoint, _ = await store.create("producer-a", "http://127.0.0.1:9/a", ["read"], "alice")
    await store.set_enabled(endpoint.id, False)
    emitter.emit("read", user_id="anna", item_id="n-mine")
    await emitter.flush()
    assert await queued(db) == []


async def test_past_the_bound_events_are_dropped_and_counted(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emitter_module, "MAX_PENDING", 3)
    store = EndpointStore(db, production=False)
    metrics = Metrics()
    emitter = Emitter(db, metrics, store, lambda: None)
    await store.create("producer-a", "http://127.0.0.1:9/a", ["read"], "alice")
    for _ in range(5):
        emitter.emit("read", user_id="anna", item_id="n-mine")
    assert len(emitter._pending) == 3
    assert metrics.registry.get_sample_value("herald_webhook_emit_errors_total") == 2
