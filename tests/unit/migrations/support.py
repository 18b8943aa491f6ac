"""Statements against a migrated database, and what its tables hold, for the migration tests."""
from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.herald_server import run_async


# One notification and its inbox item, in the columns every revision since 0004 has.
ITEM = [
    "INSERT INTO notifications (id, type, title, body, priority, target, recipients, producer, created_at) "
    "VALUES ('n1', 't', 'x', '', 'medium', '{}', 1, 'p', 1)",
    "INSERT INTO inbox_items (user_id, id, seq, notification_id, group_count, read, created_at, updated_at) "
    "VALUES ('u1', 'n1', 1, 'n1', 1, false, 1, 1)",
]


def run(url: str, *statements: str) -> Any:
    async def go() -> Any:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            result = None
            for statement in statements:
                result = await conn.execute(text(statement))
            rows = result.all() if result is not None and result.returns_rows else None
            tables = await conn.run_sync(lambda sync: {
                name: {c["name"] for c in inspect(sync).get_columns(name)} for name in inspect(sync).get_table_names()})
        await engine.dispose()
        return rows, tables

    return run_async(go())
