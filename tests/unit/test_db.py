"""The SQLite driver path (db.py): one call into aiosqlite's thread per statement, transactions unchanged."""
from __future__ import annotations

import asyncio
import collections
from pathlib import Path
from typing import Any, AsyncIterator

import aiosqlite.core
import pytest
from sqlalchemy import func, select, text

from herald.db import Database, migrate
from herald.models import groups


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    await asyncio.to_thread(migrate, url)
    database = Database(url)
    yield database
    await database.close()


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> collections.Counter[str]:
    """Calls into aiosqlite's thread, by what they ran."""
    counted: collections.Counter[str] = collections.Counter()
    real = aiosqlite.core.Connection._execute

    async def execute(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        counted[getattr(fn, "__name__", "?")] += 1
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.core.Connection, "_execute", execute)
    return counted


async def test_a_read_is_one_call_into_the_driver_thread_and_no_rollback(db: Database,
                                                                      hops: collections.Counter[str]) -> None:
    async with db.read() as conn:
        await conn.execute(text("SELECT 1"))  # the pool's first connection opens here
    hops.clear()
    async with db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(groups))).scalar() == 0
    assert sum(hops.values()) == 1, hops


async def test_a_write_is_one_call_per_statement_and_one_commit(db: Database, hops: collections.Counter[str]) -> None:
    async with db.write() as conn:
        await conn.execute(text("SELECT 1"))
    hops.clear()
    async with db.write() as conn:
        await conn.execute(groups.insert().values(name="g1", created_at=1))
        await conn.execute(groups.insert(), [{"name": "g2", "created_at": 2}, {"name": "g3", "created_at": 3}])
    assert dict(hops) == {"_run": 1, "_run_many": 1, "commit": 1}, "BEGIN IMMEDIATE rides with the first statement"
    async with db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(groups))).scalar() == 3


async def test_a_failed_write_rolls_back_everything_it_did(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.write() as conn:
            await conn.execute(groups.insert().values(name="kept-out", created_at=1))
            raise RuntimeError("after the first statement")
    async with db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(groups))).scalar() == 0


async def test_a_write_holds_the_file_s_write_lock_from_its_first_statement(db: Database, tmp_path: Path) -> None:
    import sqlite3

    async with db.write() as conn:
        await conn.execute(groups.insert().values(name="g", created_at=1))
        other = sqlite3.connect(tmp_path / "h.db", timeout=0)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()
