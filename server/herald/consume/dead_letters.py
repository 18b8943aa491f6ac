"""Dead letters: log messages that can never be published, kept in Herald's database with their error.

A dead letter is written before its message is acknowledged, so a crash in
between redelivers the message and writes nothing twice (one row per source
and source id). The admin lists them (admin/dead_letters.py); nothing here
replays them: the fix is usually in the producer, which sends a corrected
message with a new id.
"""
from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import func, select

from herald.db import Database
from herald.models import consume_dead_letters
from herald.wire import now_ms

MAX_PAYLOAD_BYTES = 64 * 1024  # a poison message may be huge; what the admin needs to see is its start
PAGE = 50


class Poisoned(Protocol):
    """What a dead letter keeps of a log message (``base.Message`` has it)."""

    body: bytes
    source_id: str
    key: str
    attempts: int


class DeadLetters:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, source: str, message: Poisoned, error: str) -> None:
        body = message.body[:MAX_PAYLOAD_BYTES].decode("utf-8", "replace")
        if len(message.body) > MAX_PAYLOAD_BYTES:
            body += f"\n… ({len(message.body):,} bytes in all)"
        row = {"source": source, "source_id": message.source_id[:300], "message_key": message.key[:300],
               "payload": body.replace("\x00", "\ufffd"), "error": error[:4000].replace("\x00", "\ufffd"),
               "attempts": message.attempts, "created_at": now_ms()}
        insert = self.db.insert(consume_dead_letters).values(**row)
        async with self.db.write() as conn:
            await conn.execute(insert.on_conflict_do_nothing(index_elements=["source", "source_id"]))

    async def page(self, before: int | None = None, source: str | None = None, limit: int = PAGE) -> list[Any]:
        query = select(consume_dead_letters).order_by(consume_dead_letters.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(consume_dead_letters.c.id < before)
        if source:
            query = query.where(consume_dead_letters.c.source == source)
        async with self.db.read() as conn:
            return list(await conn.execute(query))

    async def counts(self) -> dict[str, int]:
        query = (select(consume_dead_letters.c.source, func.count())
                 .group_by(consume_dead_letters.c.source).order_by(consume_dead_letters.c.source))
        async with self.db.read() as conn:
            return {source: count for source, count in await conn.execute(query)}
