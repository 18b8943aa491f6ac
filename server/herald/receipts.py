"""Delivered receipts: which inbox items a client confirmed it received.

Clients acknowledge what reached them: the WebSocket ``ack`` message, or
``POST /api/notifications/ack`` from SSE and long-poll clients. Receipts are
collected here and written in one transaction a quarter second later,
because a broadcast to thousands of open tabs brings thousands of acks
within the same second, and one write each would queue them all on
SQLite's single writer in front of the next publish.

- First receipt wins: ``inbox_items.delivered_at`` is written only where it
  is still null, so a repeat changes nothing.
- An id that is not the acknowledging user's matches no row (the update
  names the user), so it is ignored exactly like a repeat; the answer is the
  same either way and says nothing about anyone else's inbox. Ignoring rather
  than refusing also suits receipts: a batch may name an item pruned or
  grouped away meanwhile, and one stale id must not void the others.
- A group update clears ``delivered_at`` (inbox.py): the new version needs a
  receipt of its own.
- What a crash loses: the receipts of the last quarter second. Their items
  may then get a Web Push they did not need (push/service.py, the acknowledgement
  timeout); nothing else depends on receipts.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Annotated, Awaitable, Callable, Sequence

import msgspec
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.db import Database
from herald.metrics import Metrics
from herald.models import inbox_items
from herald.tasks import cancel
from herald.wire import now_ms

if TYPE_CHECKING:
    from herald.webhooks import Webhooks

log = logging.getLogger("herald.receipts")

MAX_IDS_PER_ACK = 500
MAX_PENDING = 100_000  # receipts waiting for a stalled database; beyond this they are dropped
# One user's receipts per flush. A real user acknowledges what reached them (a page, a burst); a script
# posting batches of made-up ids must not fill the buffer and crowd out everyone else's receipts.
MAX_PENDING_PER_USER = 2_000
FLUSH_CHUNK = 2_000  # rows per executemany, so one flush never holds the write lock for long
RETRY_SECONDS = 2.0  # after a failed write: the database is back soon, and the log need not fill meanwhile

ItemId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
AckIds = Annotated[list[ItemId], msgspec.Meta(min_length=1, max_length=MAX_IDS_PER_ACK)]
"""The ids one acknowledgement may carry (HTTP ``/ack`` and the WebSocket ``ack`` message alike)."""

_STAMP = (update(inbox_items)
          .where(inbox_items.c.user_id == bindparam("u"), inbox_items.c.id == bindparam("i"),
                 inbox_items.c.delivered_at.is_(None))
          .values(delivered_at=bindparam("at")))


class Receipts:
    def __init__(self, db: Database, metrics: Metrics, flush_seconds: float = 0.25,
                 webhooks: Webhooks | None = None) -> None:
        self.db = db
        self.webhooks = webhooks  # told of each first receipt (``delivered``)
        self.metrics = metrics
        self.flush_seconds = flush_seconds
        self._pending: dict[tuple[str, str], int] = {}
        self._per_user: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Publisher.catch_up (services.py): a broadcast acked live is copied into the inbox before it is stamped.
        self.catch_up: Callable[[list[str]], Awaitable[None]] | None = None

    def record(self, user_id: str, item_ids: Sequence[str], transport: str) -> None:
        """Note receipts (cheap, never waits); written within ``flush_seconds``."""
        self.metrics.acks.labels(transport).inc(len(item_ids))
        now = now_ms()
        taken = self._per_user.get(user_id, 0)
        for item_id in item_ids:
            if len(self._pending) >= MAX_PENDING or taken >= MAX_PENDING_PER_USER:
                if taken < MAX_PENDING_PER_USER + 1:  # once per user and flush: a flood must not flood the log too
                    log.warning("dropping delivery receipts of %r: the buffer or that user's share is full", user_id)
                    taken += 1
                break
            if (user_id, item_id) not in self._pending:
                self._pending[user_id, item_id] = now
                taken += 1
        self._per_user[user_id] = taken
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="herald-receipts")

    async def stop(self) -> None:
        await cancel([self._task])
        with contextlib.suppress(Exception):  # best effort: the database may be gone already
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending, self._per_user = self._pending, {}, {}
        if self.catch_up is not None:
            try:
                await self.catch_up(sorted({user_id for user_id, _ in pending}))
            except Exception:  # noqa: BLE001 - stamped below as far as the inboxes have the items
                log.exception("copying broadcasts before stamping receipts failed")
        rows = [{"u": user_id, "i": item_id, "at": at} for (user_id, item_id), at in pending.items()]
        first: list[tuple[str, str, str, int]] = []
        try:
            async with self.db.write() as conn:
                for start in range(0, len(rows), FLUSH_CHUNK):
                    chunk = rows[start:start + FLUSH_CHUNK]
                    if self.webhooks is not None and self.webhooks.wants("delivered"):
                        first += await _unstamped(conn, chunk)
                    await conn.execute(_STAMP, chunk)
        except Exception:
            # Keep them for the next round (the earliest time of each stays), within the bound.
            for key, at in pending.items():
                if len(self._pending) >= MAX_PENDING:
                    break
                self._pending.setdefault(key, at)
            raise
        if self.webhooks is not None:
            for user_id, item_id, notification_id, at in first:
                self.webhooks.emit("delivered", {"deliveredAt": at}, user_id=user_id, item_id=item_id,
                                   notification_id=notification_id)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.flush_seconds)  # let the acks of one burst share a transaction
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - kept and retried; receipts only steer pushes and counts
                log.exception("writing delivery receipts failed")
                self._wake.set()
                await asyncio.sleep(RETRY_SECONDS)


async def _unstamped(conn: AsyncConnection, rows: list[dict[str, object]]) -> list[tuple[str, str, str, int]]:
    """Which of these receipts are their item's first (read inside the stamping transaction): one event each."""
    wanted = {(row["u"], row["i"]): row["at"] for row in rows}
    found = await conn.execute(select(inbox_items.c.user_id, inbox_items.c.id, inbox_items.c.notification_id).where(
        inbox_items.c.id.in_(sorted({str(row["i"]) for row in rows})), inbox_items.c.delivered_at.is_(None)))
    return [(r.user_id, r.id, r.notification_id, int(wanted[r.user_id, r.id]))  # type: ignore[call-overload]
            for r in found if (r.user_id, r.id) in wanted]
