"""Migration 0004 adds ``inbox_items.delivered_at`` and takes it away again, keeping every item, on both databases."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from herald.db import alembic_config, migrate
from herald.models import inbox_items
from tests.herald_server import create_postgres_database, drop_postgres_database, run_async

ITEM = ("INSERT INTO inbox_items (user_id, id, seq, notification_id, group_key, group_count, actors, read,"
        " created_at, updated_at) VALUES ('u1', '01J0000000000000000000000A', 1, '01J0000000000000000000000A',"
        " NULL, 1, NULL, false, 1, 1)")


def run(url: str, *statements: str) -> Any:
    async def go() -> Any:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            result = None
            for statement in statements:
                result = await conn.execute(text(statement))
            rows = result.all() if result is not None and result.returns_rows else None
            shape = await conn.run_sync(lambda sync: (
                {c["name"] for c in inspect(sync).get_columns("inbox_items")},
                {i["name"] for i in inspect(sync).get_indexes("inbox_items")}))
        await engine.dispose()
        return rows, shape

    return run_async(go())


def up_down_up(url: str) -> None:
    migrate(url, "0003")
    _, (columns, indexes) = run(url, ITEM)
    assert "delivered_at" not in columns

    migrate(url)
    rows, (columns, _) = run(url, "SELECT id, delivered_at FROM inbox_items")
    assert columns == {c.name for c in inbox_items.columns}
    assert rows == [("01J0000000000000000000000A", None)]  # existing items start without a receipt
    run(url, "UPDATE inbox_items SET delivered_at = 5")

    command.downgrade(alembic_config(url), "0003")
    rows, (columns, indexes_after) = run(url, "SELECT id FROM inbox_items")
    assert "delivered_at" not in columns
    assert rows == [("01J0000000000000000000000A",)]
    assert indexes_after == indexes  # SQLite's table rebuild kept every index

    migrate(url)
    rows, _ = run(url, "SELECT delivered_at FROM inbox_items")
    assert rows == [(None,)]


def test_migration_0004_on_sqlite(tmp_path: Path) -> None:
    up_down_up(f"sqlite+aiosqlite:///{tmp_path / 'herald.db'}")


@pytest.mark.postgres
def test_migration_0004_on_postgres() -> None:
    url = create_postgres_database()
    try:
        up_down_up(url)
    finally:
        drop_postgres_database(url)
