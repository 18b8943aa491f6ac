"""Taking notifications back: retract by notification id or by replace key, and expiry.

A retraction deletes the inbox items (no tombstone: a deleted row can come
back on no replay and in no page) and records, in the same transaction, one
``retract`` change per user (``{"ids": [...], "unreadCount": n, "reason":
"retracted" | "expired"}``) at the user's next sequence number, so every open
list removes the items live and a stream that was away replays the change.
After the commit, ``Publisher.publish_changes`` announces the changes and
queues the pushes that close shown notifications on devices and browsers no
tab reaches; a push still queued for a removed item is never sent (the
sender finds the item gone, push/sender.py).

Expiry is a retraction the clock makes: every node runs ``run_forever``,
which removes the items of notifications whose ``expires_at`` has passed.
Two nodes sweeping at once are harmless: each announces only the rows its own
``DELETE ... RETURNING`` removed, and a row deleted by the other is not
returned. Readers never see an expired item even before the sweep
(inbox.py leaves it out of every page and replay).
"""
from __future__ import annotations

import logging
from typing import Any

import msgspec
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.audience import Audience
from herald.db import Database
from herald.errors import not_found
from herald.inbox import UNREAD, Inbox, InboxWrite
from herald.metrics import Metrics
from herald.models import broadcasts, inbox_items, notifications, users
from herald.publish import Publisher
from herald.tasks import repeat
from herald.wire import Target, encoder, now_ms

log = logging.getLogger("herald.retraction")

# Each sweep looks only at notifications that expired since shortly before the previous one (the first
# sweep of a process looks at all): expired rows stay until retention, and rescanning them every second
# would grow with them. The margin covers a publish whose transaction was still open during that sweep.
SWEEP_OVERLAP_MS = 5 * 60 * 1000


class Retractions:
    def __init__(self, db: Database, inbox: Inbox, audience: Audience, publisher: Publisher, metrics: Metrics,
                 *, sweep_interval_seconds: float) -> None:
        self.db = db
        self.inbox = inbox
        self.audience = audience
        self.publisher = publisher
        self.metrics = metrics
        self.sweep_interval_seconds = sweep_interval_seconds
        self._swept_until: int | None = None  # this process's previous sweep; None: look at everything

    async def by_notification(self, notification_id: str) -> int:
        """Remove the items this notification is the current version of, from every inbox; 404 if unknown."""
        now = now_ms()
        async with self.db.write() as conn:
            marked = await conn.execute(update(notifications).where(
                notifications.c.id == notification_id, notifications.c.retracted_at.is_(None),
            ).values(retracted_at=now))
            if not marked.rowcount:
                raise not_found("No such notification, or it was already retracted.")
            changes = await self._remove(conn, inbox_items.c.notification_id == notification_id, "retracted", now)
            broadcast = (await conn.execute(select(broadcasts.c.bseq).where(
                broadcasts.c.notification_id == notification_id))).first()
        await self.publisher.publish_changes(changes)
        if broadcast is not None:
            # Open lists that had it live, not yet copied: no inbox will take it now (broadcasts.py).
            await self.publisher.announce_everywhere("retract", {"ids": [notification_id], "reason": "retracted"})
        return _removed(changes)

    async def by_replace_key(self, replace_key: str, target: Target) -> int:
        """Remove each targeted user's item with this replace key; 404 if no targeted inbox has one."""
        now = now_ms()
        async with self.db.write() as conn:
            where: Any = inbox_items.c.replace_key == replace_key
            if target.all is None:
                where = where & self.db.among(inbox_items.c.user_id, await self.audience.expand(conn, target))
            changes = await self._remove(conn, where, "retracted", now)
            if not changes:
                raise not_found("No inbox of that target has an item with this replace key.")
        await self.publisher.publish_changes(changes)
        return _removed(changes)

    async def expire_once(self) -> int:
        """Remove every item whose notification has expired; returns how many this call removed."""
        now = now_ms()
        due = select(notifications.c.id).where(notifications.c.expires_at <= now)
        if self._swept_until is not None:
            due = due.where(notifications.c.expires_at > self._swept_until - SWEEP_OVERLAP_MS)
        doomed = inbox_items.c.notification_id.in_(due.scalar_subquery())
        # Broadcasts that expired since the last sweep leave the open lists that had them live (broadcasts.py):
        # inboxes that never copied them never will, so there is nothing to delete for those.
        since = self._swept_until if self._swept_until is not None else now - int(self.sweep_interval_seconds * 1000)
        # A read first: most sweeps find nothing, and SQLite's one writer is better left to publishes.
        async with self.db.read() as conn:
            ended = list((await conn.execute(
                select(notifications.c.id).join(broadcasts, broadcasts.c.notification_id == notifications.c.id)
                .where(notifications.c.expires_at <= now, notifications.c.expires_at > since))).scalars())
            found = (await conn.execute(select(inbox_items.c.id).where(doomed).limit(1))).first()
        if ended:
            await self.publisher.announce_everywhere("retract", {"ids": sorted(ended), "reason": "expired"})
        if found is None:
            self._swept_until = now
            return 0
        async with self.db.write() as conn:
            changes = await self._remove(conn, doomed, "expired", now)
        self._swept_until = now
        await self.publisher.publish_changes(changes)
        removed = _removed(changes)
        if removed:
            log.info("expired %d inbox items", removed)
        return removed

    async def run_forever(self) -> None:
        await repeat("expiry sweep", self.expire_once, self.sweep_interval_seconds, self.metrics.database_errors.labels("expire").inc)

    async def _remove(self, conn: AsyncConnection, where: Any, reason: str, now: int) -> list[InboxWrite]:
        """Delete the items ``where`` selects and record one ``retract`` change per user, in the caller's transaction.

        Only what this statement deleted is announced (``DELETE ... RETURNING``), so two nodes
        sweeping the same expired items record each removal once.
        """
        # Lock the users' rows first, in user-id order, as every publish does before it touches items
        # (inbox.py ``_allocate``): deleting items first and then taking the users' next sequence
        # numbers would deadlock against a publish that updates one of those items in place.
        candidates = sorted(set((await conn.execute(select(inbox_items.c.user_id).where(where))).scalars()))
        if not candidates:
            return []
        await conn.execute(select(users.c.user_id).where(self.db.among(users.c.user_id, candidates))
                           .order_by(users.c.user_id).with_for_update())
        gone = (await conn.execute(delete(inbox_items).where(where, self.db.among(inbox_items.c.user_id, candidates))
                                   .returning(inbox_items.c.user_id, inbox_items.c.id))).all()
        if not gone:
            return []
        per_user: dict[str, list[str]] = {}
        for user_id, item_id in gone:
            per_user.setdefault(user_id, []).append(item_id)
        unread = dict((await conn.execute(
            select(inbox_items.c.user_id, func.count()).where(
                self.db.among(inbox_items.c.user_id, sorted(per_user)), *UNREAD)
            .group_by(inbox_items.c.user_id))).all())
        bodies = {user: encoder.encode({"ids": sorted(ids), "unreadCount": unread.get(user, 0), "reason": reason})
                  for user, ids in per_user.items()}
        return await self.inbox.record_changes(conn, "retract", bodies)


def _removed(changes: list[InboxWrite]) -> int:
    return sum(len(_ids(change.payload).ids) for change in changes)


class _Ids(msgspec.Struct):
    ids: list[str]


_ids = msgspec.json.Decoder(_Ids).decode
