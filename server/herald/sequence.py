"""Per-user sequence numbers, taken inside the caller's transaction.

A write takes each user's next number under the user row's lock (an upsert
``last_seq = last_seq + 1 ... RETURNING``), so committed sequence numbers are
contiguous per user and a higher committed number proves every lower one is
committed too. The gateway's cursor logic relies on exactly that.

``allocate_with_setup`` also says, per user, whether they have saved
preferences and whether they have a push target (a browser subscription or a
phone). The same statement returns it, read under the same lock, so a publish
learns at no extra round trip that most recipients need neither the
preference query nor the push-target query after its commit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from herald.db import Database
from herald.wire import encoder


@dataclass(frozen=True, slots=True)
class Setup:
    """What a recipient has set up beyond the inbox, read with their sequence number."""

    has_preferences: bool
    has_push: bool


# Correlated on the row being returned: an index probe each (preferences' key, the user_id indexes).
_SETUP = (", EXISTS (SELECT 1 FROM preferences WHERE preferences.user_id = users.user_id)"
          ", EXISTS (SELECT 1 FROM push_subscriptions WHERE push_subscriptions.user_id = users.user_id)"
          " OR EXISTS (SELECT 1 FROM devices WHERE devices.user_id = users.user_id)")

_SQLITE = ("INSERT INTO users (user_id, last_seq, pruned_seq, created_at) SELECT value, 1, 0, ? FROM json_each(?)"
           # SQLite needs a WHERE to tell an upsert's ON CONFLICT from a join.
           " WHERE true ON CONFLICT (user_id) DO UPDATE SET last_seq = users.last_seq + 1"
           " RETURNING user_id, last_seq")
_POSTGRES_ONE = ("INSERT INTO users (user_id, last_seq, pruned_seq, created_at) VALUES ($1, 1, 0, $2)"
                 " ON CONFLICT (user_id) DO UPDATE SET last_seq = users.last_seq + 1 RETURNING user_id, last_seq")
_POSTGRES_NEW = ("INSERT INTO users (user_id, last_seq, pruned_seq, created_at) SELECT u, 0, 0, $2"
                 " FROM unnest($1::text[]) AS u ON CONFLICT (user_id) DO NOTHING")
# Rows are locked in user-id order so overlapping fan-outs cannot deadlock.
_POSTGRES_BUMP = ("UPDATE users SET last_seq = users.last_seq + 1 FROM (SELECT user_id FROM users"
                  " WHERE user_id = ANY($1::text[]) ORDER BY user_id FOR UPDATE) AS locked"
                  " WHERE users.user_id = locked.user_id RETURNING users.user_id, users.last_seq")


async def allocate(db: Database, conn: AsyncConnection, user_ids: Sequence[str], now: int) -> dict[str, int]:
    """Take the next sequence number of each user (``user_ids`` sorted, distinct)."""
    return {row[0]: row[1] for row in await _take(db, conn, user_ids, now, "")}


async def allocate_with_setup(db: Database, conn: AsyncConnection, user_ids: Sequence[str],
                              now: int) -> tuple[dict[str, int], dict[str, Setup]]:
    """``allocate``, and what each user has set up (``Setup``), from the same statement."""
    rows = await _take(db, conn, user_ids, now, _SETUP)
    return {row[0]: row[1] for row in rows}, {row[0]: Setup(bool(row[2]), bool(row[3])) for row in rows}


async def _take(db: Database, conn: AsyncConnection, user_ids: Sequence[str], now: int, extra: str) -> list[Any]:
    """One statement on SQLite (one writer: no lock order) and for one user on PostgreSQL; two for many there.

    A new user starts at 1, a known one takes last_seq + 1. The work stays in the database, not in
    per-row Python, whatever the fan-out.
    """
    if db.is_sqlite:
        result = await conn.exec_driver_sql(_SQLITE + extra, (now, encoder.encode(list(user_ids)).decode()))
        return list(result.all())
    if len(user_ids) == 1:
        result = await conn.exec_driver_sql(_POSTGRES_ONE + extra, (user_ids[0], now))
        return list(result.all())
    await conn.exec_driver_sql(_POSTGRES_NEW, (list(user_ids), now))
    return list((await conn.exec_driver_sql(_POSTGRES_BUMP + extra, (list(user_ids),))).all())
