"""The publish path in process, on both databases: what one single-recipient publish costs the database.

Counting statements, not timing them: a query that creeps back onto the path fails here on any machine.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator

import msgspec
import pytest
from sqlalchemy import event, func, select

from herald.db import migrate
from herald.models import preferences, push_jobs, push_subscriptions
from herald.preferences import Default, UserPreferences
from herald.services import Services
from herald.settings import load_settings
from herald.wire import PublishRequest, new_id, now_ms
from tests.herald_server import create_postgres_database, drop_postgres_database

# SQLite: the notification, the sequence upsert (which also says what the recipient has set up), the item.
# PostgreSQL runs the same three. BEGIN and COMMIT are not statements here (SQLite's BEGIN IMMEDIATE rides
# with the first one, db.py); the category defaults are read once a second, not per publish.
SINGLE_RECIPIENT_STATEMENTS = 3


@pytest.fixture(params=["sqlite", "postgres"])
async def services(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Services]:
    url = create_postgres_database() if request.param == "postgres" else ""
    settings = load_settings({"HERALD_DATA_DIR": str(tmp_path), "HERALD_DATABASE_URL": url,
                              "HERALD_API_KEYS": "k" * 32, "HERALD_SECRET": "s" * 32})
    await asyncio.to_thread(migrate, settings.effective_database_url)
    built = Services.build(settings)  # not started: no background loop runs a statement meanwhile
    yield built
    await built.db.close()
    if url:
        drop_postgres_database(url)


def statements_of(services: Services) -> list[str]:
    seen: list[str] = []
    event.listen(services.db.engine.sync_engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def payloads_published(services: Services) -> list[bytes]:
    """The payload of every event the publisher hands to the bus from now on, in order (it still goes out)."""
    seen: list[bytes] = []
    real_publish = services.fanout.publish

    async def capture(events):  # type: ignore[no-untyped-def]
        seen.extend(e.payload for e in events)
        await real_publish(events)

    services.fanout.publish = capture  # type: ignore[method-assign]
    return seen


def publish_to(user: str, **fields: object) -> PublishRequest:
    return msgspec.convert({"to": {"users": [user]}, "type": "order.shipped", "title": "Shipped",
                            "priority": "high", **fields}, PublishRequest)


async def test_a_single_recipient_publish_is_a_fixed_handful_of_statements(services: Services) -> None:
    publisher = services.publisher
    await publisher.publish(publish_to("warm"), "producer")  # first use: defaults read, statements compiled
    seen = statements_of(services)
    for user in ("anna", "anna", "ben"):  # a new recipient and a known one
        seen.clear()
        response = await publisher.publish(publish_to(user), "producer")
        assert response.recipients == 1
        assert len(seen) <= SINGLE_RECIPIENT_STATEMENTS, seen
        assert not [s for s in seen if s.lstrip().upper().startswith("SELECT")], \
            "a recipient with no preferences and no push target costs no query for either"


async def test_recipients_with_preferences_or_a_push_target_still_get_them(services: Services) -> None:
    await services.preferences.set_defaults({"order": Default(channels={"webPush": True})})
    await services.preferences.save("carla", UserPreferences(categories={"order": {"inApp": False}}))
    async with services.db.write() as conn:
        await conn.execute(push_subscriptions.insert().values(
            id=new_id(), user_id="dan", endpoint="https://push.example/dan", p256dh="p", auth="a", created_at=now_ms()))
    seen_events = payloads_published(services)
    await services.publisher.publish(publish_to("carla"), "producer")
    assert b'"toast":false' in seen_events[-1], "carla turned the category's in-app toast off"
    await services.publisher.publish(publish_to("dan"), "producer")
    async with services.db.read() as conn:
        queued = (await conn.execute(select(func.count()).select_from(push_jobs).where(push_jobs.c.user_id == "dan"))).scalar()
        saved = (await conn.execute(select(func.count()).select_from(preferences))).scalar()
    assert queued == 1, "dan is offline with a browser subscription: one push queued"
    assert saved == 1


async def test_defaults_changed_on_this_node_apply_to_the_next_publish(services: Services) -> None:
    seen_events = payloads_published(services)
    await services.publisher.publish(publish_to("erik"), "producer")
    assert b'"toast":false' not in seen_events[-1]
    await services.preferences.set_defaults({"order": Default(channels={"inApp": False})})
    await services.publisher.publish(publish_to("erik"), "producer")
    assert b'"toast":false' in seen_events[-1], "the cached defaults were dropped when they changed here"
