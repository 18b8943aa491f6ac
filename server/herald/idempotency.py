"""Idempotency keys: a publish sent twice with the same key is stored once, and the retry gets the first answer.

A key is claimed inside the publish's own transaction with one statement (``claim``): a new key is
inserted, an expired one (older than ``HERALD_IDEMPOTENCY_SECONDS``) taken over in place, and a live
one left alone, which returns no row. There is no look-up before it: a first publish with a key (the
usual case) pays one statement for the key, and a retry is answered from inside that transaction
(``earlier_within``). A concurrent twin waits on the claimed row (PostgreSQL), then finds it taken, or
fails on the primary key; publish.py answers that one with ``earlier``.
"""
from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.db import Database
from herald.models import idempotency_keys
from herald.wire import PublishResponse, now_ms

_c = idempotency_keys.c


class IdempotencyKeys:
    def __init__(self, db: Database, keep_ms: int) -> None:
        self.db = db
        self.keep_ms = keep_ms

    async def claim(self, conn: AsyncConnection, producer: str, key: str, notification_id: str, recipients: int,
                    now: int) -> bool:
        """Take ``key`` for this publish; False when a live earlier use holds it."""
        values = {"notification_id": notification_id, "recipients": recipients, "created_at": now}
        statement = self.db.insert(idempotency_keys).values(producer=producer, key=key, **values)
        taken = await conn.execute(statement.on_conflict_do_update(
            index_elements=[_c.producer, _c.key], set_=values, where=_c.created_at < now - self.keep_ms,
        ).returning(_c.key))
        return taken.first() is not None

    async def count(self, conn: AsyncConnection, producer: str, key: str, recipients: int) -> None:
        """The recipients of a claimed key's publish, once its group, topic or "all" is expanded."""
        await conn.execute(idempotency_keys.update().where(_c.producer == producer, _c.key == key)
                           .values(recipients=recipients))

    async def earlier_within(self, conn: AsyncConnection, producer: str, key: str) -> PublishResponse:
        """The answer of the publish that holds ``key`` (``claim`` just found it live)."""
        row = (await conn.execute(select(_c.notification_id, _c.recipients)
                                  .where(_c.producer == producer, _c.key == key))).one()
        return PublishResponse(row.notification_id, row.recipients)

    async def earlier(self, producer: str, key: str) -> PublishResponse | None:
        """The answer of a live earlier use of ``key``, read outside any transaction; None when there is none."""
        async with self.db.read() as conn:
            row = (await conn.execute(select(_c.notification_id, _c.recipients).where(
                _c.producer == producer, _c.key == key, _c.created_at >= now_ms() - self.keep_ms))).first()
        return PublishResponse(row.notification_id, row.recipients) if row else None

    async def prune(self) -> None:
        async with self.db.write() as conn:
            await conn.execute(delete(idempotency_keys).where(_c.created_at < now_ms() - self.keep_ms))
