"""Migration 0003 goes up, down and up again on SQLite and PostgreSQL, and matches models.py."""
from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from herald.db import alembic_config, migrate
from herald.models import metadata
from tests.herald_server import create_postgres_database, drop_postgres_database, run_async

ADMIN_TABLES = {"admin_users", "admin_sessions", "api_keys", "audit_log"}


def schema(url: str) -> dict[str, set[str]]:
    async def read() -> dict[str, set[str]]:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            found = await conn.run_sync(lambda sync: {
                table: {c["name"] for c in inspect(sync).get_columns(table)} for table in inspect(sync).get_table_names()})
        await engine.dispose()
        return found

    return run_async(read())


def up_down_up(url: str) -> None:
    migrate(url)
    tables = schema(url)
    for table in metadata.sorted_tables:
        assert {c.name for c in table.columns} == tables[table.name], table.name
    command.downgrade(alembic_config(url), "0002")
    tables = schema(url)
    assert not ADMIN_TABLES & set(tables)
    assert "live_recipients" not in tables["notifications"]
    migrate(url)
    assert ADMIN_TABLES <= set(schema(url))


def test_migration_0003_on_sqlite(tmp_path: Path) -> None:
    up_down_up(f"sqlite+aiosqlite:///{tmp_path / 'herald.db'}")


@pytest.mark.postgres
def test_migration_0003_on_postgres() -> None:
    url = create_postgres_database()
    try:
        up_down_up(url)
    finally:
        drop_postgres_database(url)
