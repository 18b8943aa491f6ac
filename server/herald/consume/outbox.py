"""PostgreSQL transactional outbox: the product inserts a row in its own transaction, Herald publishes it.

The table, its index and its NOTIFY trigger are in ``outbox.sql`` (``herald
consume --outbox-ddl`` prints it). Herald listens on the ``herald_outbox``
channel to wake the moment a producer's transaction commits, and polls every
``HERALD_CONSUME_POLL_SECONDS`` as well, in case a notification is missed (a
reconnect). A batch is taken in one transaction:

1. ``SELECT ... ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED``: rows no other
   node is working on, locked by this one;
2. per key, only the rows up to the first one this node did not get: a row
   of the same key that another node holds, or that an older transaction is
   still writing, comes first. This is what keeps one user's rows in order
   even with several nodes (the oldest row of each key is always someone's);
3. each row published is deleted in that transaction, which commits once all
   rows in hand are acked. A node that dies leaves its transaction to roll
   back: the rows are unlocked and taken again, and their idempotency keys
   (``outbox:<id>``) stop a second notification.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Sequence

import asyncpg

from herald.consume.base import Lag, Message, Source

DDL = (Path(__file__).parent / "outbox.sql").read_text()
CHANNEL = "herald_outbox"

_TAKE = "SELECT id, key, payload::text AS payload, extract(epoch FROM created_at)::float8 AS at FROM herald_outbox " \
        "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"
# Every row (locked or not: a plain read sees them all) of these keys up to the newest taken.
_EARLIER = "SELECT id, key FROM herald_outbox WHERE key = ANY($1::text[]) AND id <= $2 ORDER BY id"
_LAG = "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at))::float8, 0) FROM herald_outbox"


class OutboxSource(Source):
    name = "outbox"

    def __init__(self, url: str) -> None:
        self.url = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self.pool: asyncpg.Pool | None = None
        self.listener: asyncpg.Connection | None = None
        self.woken = asyncio.Event()
        self._conn: Any = None  # the pool connection whose transaction holds the rows in hand
        self._tx: Any = None
        self._held: set[int] = set()
        self._more = True  # the last batch was full or blocked: look again without waiting

    async def open(self) -> None:
        if self.pool is None:
            self.pool = await asyncpg.create_pool(self.url, min_size=1, max_size=3, timeout=5, command_timeout=10)
        if self.listener is None or self.listener.is_closed():
            self.listener = await asyncpg.connect(self.url, timeout=5)
            await self.listener.add_listener(CHANNEL, self._wake)
        self._more = True

    def _wake(self, *_: object) -> None:
        self.woken.set()

    async def fetch(self, max_messages: int, wait_seconds: float) -> list[Message]:
        assert self.pool is not None
        if self.listener is None or self.listener.is_closed():
            raise ConnectionError("the LISTEN connection to the outbox database closed")
        if not self._more:
            try:
                await asyncio.wait_for(self.woken.wait(), wait_seconds)
            except asyncio.TimeoutError:
                pass
        self.woken.clear()
        await self._finish()  # a transaction left from an abandoned batch
        conn = await self.pool.acquire()
        tx = conn.transaction()
        try:
            await tx.start()
            rows = await conn.fetch(_TAKE, max_messages)
            usable = await self._in_order(conn, rows)
        except BaseException:
            await self._release(conn, tx, commit=False)
            raise
        # A full batch or rows left for later (another node's key heads): come back without waiting.
        self._more = len(rows) == max_messages or len(usable) < len(rows)
        if not usable:
            await self._release(conn, tx, commit=True)
            if rows:
                await asyncio.sleep(min(wait_seconds, 0.05))  # another node holds the heads of these keys
            return []
        self._conn, self._tx, self._held = conn, tx, {row["id"] for row in usable}
        return [Message(source_id=f"outbox:{row['id']}", key=row["key"] if row["key"] is not None else f"#{row['id']}",
                        body=row["payload"].encode(), produced_at=row["at"], handle=row["id"]) for row in usable]

    @staticmethod
    async def _in_order(conn: Any, rows: list[Any]) -> list[Any]:
        """The rows this node may publish now: per key, those before any row of the key it does not hold."""
        keys = sorted({row["key"] for row in rows if row["key"] is not None})
        if not keys:
            return rows
        mine = {row["id"] for row in rows}
        first_foreign: dict[str, int] = {}
        for row in await conn.fetch(_EARLIER, keys, max(mine)):
            if row["id"] not in mine:
                first_foreign.setdefault(row["key"], row["id"])
        return [row for row in rows if row["key"] is None or row["id"] < first_foreign.get(row["key"], row["id"] + 1)]

    async def ack(self, messages: Sequence[Message]) -> None:
        assert self._conn is not None
        ids = [m.handle for m in messages]
        await self._conn.execute("DELETE FROM herald_outbox WHERE id = ANY($1::bigint[])", ids)
        self._held.difference_update(ids)  # type: ignore[arg-type]
        if not self._held:
            await self._finish(commit=True)

    async def abandon(self, messages: Sequence[Message]) -> None:
        await self._finish(commit=False)

    async def _finish(self, commit: bool = False) -> None:
        conn, tx, self._conn, self._tx, self._held = self._conn, self._tx, None, None, set()
        if conn is not None:
            await self._release(conn, tx, commit)

    async def _release(self, conn: Any, tx: Any, commit: bool) -> None:
        assert self.pool is not None
        try:
            if commit:
                await tx.commit()
            else:
                await tx.rollback()
        finally:
            await self.pool.release(conn)

    async def lag(self) -> Lag:
        assert self.pool is not None
        async with self.pool.acquire() as conn:
            count, age = await conn.fetchrow(_LAG)
        return Lag(int(count), float(age) if count else 0.0)

    async def close(self) -> None:
        try:
            await self._finish(commit=False)
        finally:
            if self.listener is not None and not self.listener.is_closed():
                await self.listener.close()
            if self.pool is not None:
                await self.pool.close()
            self.pool = self.listener = None
