"""Fan-out on read: a publish to ``all`` or a topic is stored once, and each inbox copies it when read.

A broadcast is one ``notifications`` row and one ``broadcasts`` row, whatever the audience: two
inserts and one update of ``broadcast_head``, whose row lock hands out ``bseq`` in commit order.
Live connections get it straight from the bus, one frame for all of them (it carries no cursor:
it does not move the per-user one). Each user's inbox takes it later, on the first read of any
kind (a stream opening, a list page, a count, a read, a triage change): ``catch_up`` copies
every broadcast after the user's ``broadcast_mark`` into their inbox as ordinary items, each at
the user's next sequence number, in one ``INSERT ... SELECT`` for any number of users and
broadcasts. From there read state, the unread count, triage, retraction, retention, the list's
pages and the cursor's exact resume are the per-user code's, unchanged. The work a broadcast
costs grows with the users who come back to read, not with the users it names. (A broadcast
with ``groupKey`` or ``replaceKey`` is written per recipient instead, publish.py: what it
updates differs per inbox.)

Who receives it (the audience is fixed at publish time, by the clock of the node that wrote
each row): ``all`` is every user known then (``users.created_at`` not after the broadcast);
a topic is the users following it then (a follow made later does not bring it back, an
unfollow later does not take it away: ``topic_follows_ended`` keeps the interval).

A broadcast retracted or expired before a user catches up is never copied into that inbox.
"""
from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import and_, case, exists, false, func, literal, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.db import Database
from herald.inbox import Inbox, InboxWrite
from herald.models import (broadcast_head, broadcasts, devices, inbox_items, notifications, push_subscriptions,
                           topic_follows_ended, topic_subscribers, users)
from herald.wire import PRIORITY_RANK, encoder, now_ms


class Broadcasts:
    def __init__(self, db: Database, inbox: Inbox) -> None:
        self.db = db
        self.inbox = inbox

    async def persist(self, conn: AsyncConnection, note: dict[str, Any], topic: str | None) -> tuple[int, InboxWrite]:
        """The notification and its broadcast row, in the publish's transaction: (recipients, the live event)."""
        count = await self.audience_size(conn, topic)
        target = {"topic": topic} if topic is not None else {"all": True}
        await conn.execute(notifications.insert(), {**note, "target": target, "recipients": count})
        await self.record(conn, note["id"], topic, note["created_at"])
        wire = Inbox.wire(note, note["id"], 1, [note["actor"]] if note["actor"] else None)
        wire.broadcast = True
        return count, InboxWrite(topic or "", 0, PRIORITY_RANK[note["priority"]], encoder.encode(wire), "broadcast")

    async def record(self, conn: AsyncConnection, notification_id: str, topic: str | None, created_at: int) -> int:
        """Append one broadcast inside the publish's transaction; returns its ``bseq``.

        The head row's lock is held to the commit, so numbers commit in order with no gap.
        """
        bseq = (await conn.execute(
            update(broadcast_head).where(broadcast_head.c.id == 1)
            .values(last_bseq=broadcast_head.c.last_bseq + 1).returning(broadcast_head.c.last_bseq))).scalar()
        if bseq is None:  # a database made without the migrations' seed row (metadata.create_all)
            await conn.execute(broadcast_head.insert().values(id=1, last_bseq=1))
            bseq = 1
        await conn.execute(broadcasts.insert().values(bseq=bseq, notification_id=notification_id, topic=topic,
                                                      created_at=created_at))
        return int(bseq)

    async def audience_size(self, conn: AsyncConnection, topic: str | None) -> int:
        """How many users the broadcast names now (the 202's ``recipients``): one count, no rows written."""
        if topic is None:
            query = select(func.count()).select_from(users)
        else:
            query = select(func.count()).select_from(topic_subscribers).where(topic_subscribers.c.topic == topic)
        return int((await conn.execute(query)).scalar() or 0)

    async def push_audience(self, notification_id: str) -> list[str]:
        """The broadcast's recipients who have a browser subscription or a phone: the only ones a push can reach."""
        sent = select(broadcasts.c.created_at, broadcasts.c.topic).where(broadcasts.c.notification_id == notification_id)
        async with self.db.read() as conn:
            row = (await conn.execute(sent)).first()
            if row is None:
                return []
            targets = select(push_subscriptions.c.user_id).union(select(devices.c.user_id)).subquery()
            query = (select(users.c.user_id).join(targets, targets.c.user_id == users.c.user_id)
                     .where(users.c.created_at <= row.created_at))
            if row.topic is not None:
                query = query.join(topic_subscribers, (topic_subscribers.c.user_id == users.c.user_id)
                                   & (topic_subscribers.c.topic == row.topic)
                                   & (topic_subscribers.c.created_at <= row.created_at))
            return list((await conn.execute(query)).scalars())

    async def behind(self, user_ids: Sequence[str]) -> list[str]:
        """Which of these users have broadcasts to copy, or no row yet: one read, no lock."""
        head = select(broadcast_head.c.last_bseq).where(broadcast_head.c.id == 1).scalar_subquery()
        async with self.db.read() as conn:
            current = set((await conn.execute(
                select(users.c.user_id).where(self.db.among(users.c.user_id, list(user_ids)),
                                              users.c.broadcast_mark >= func.coalesce(head, 0)))).scalars())
        return [user for user in user_ids if user not in current]

    async def catch_up(self, user_ids: Sequence[str]) -> list[InboxWrite]:
        """Copy every broadcast these users have not yet taken into their inboxes; returns the writes to announce.

        Users without a row are made known now, with nothing to copy: a broadcast before them is not theirs.
        """
        wanted = sorted(set(await self.behind(user_ids)))
        if not wanted:
            return []
        async with self.db.write() as conn:
            return await self.catch_up_within(conn, wanted)

    async def catch_up_within(self, conn: AsyncConnection, user_ids: list[str]) -> list[InboxWrite]:
        """``catch_up`` inside the caller's write transaction (``user_ids`` sorted, distinct)."""
        now = now_ms()
        head = (await conn.execute(select(broadcast_head.c.last_bseq).where(broadcast_head.c.id == 1))).scalar() or 0
        # A user new to Herald has nothing to copy: every broadcast so far was before them.
        await conn.execute(self.db.insert(users).values(
            [{"user_id": user, "last_seq": 0, "pruned_seq": 0, "created_at": now, "broadcast_mark": head}
             for user in user_ids]).on_conflict_do_nothing(index_elements=[users.c.user_id]))
        # Locked in user-id order (PostgreSQL; SQLite has one writer): two tabs catching up at once take turns,
        # and the second then sees the first one's mark.
        behind = list((await conn.execute(
            select(users.c.user_id).where(self.db.among(users.c.user_id, user_ids), users.c.broadcast_mark < head)
            .order_by(users.c.user_id).with_for_update())).scalars())
        if not behind:
            return []
        # Every copy in one statement, whatever the number of users and broadcasts: each user's copies take
        # their next sequence numbers in broadcast order (ROW_NUMBER over the user), as Inbox.deliver would.
        await conn.execute(inbox_items.insert().from_select(_COPY_COLUMNS, self._copies(behind, head, now)))
        writes = await self.inbox.above_head(conn, behind)  # read before the heads move past them
        copied = (select(func.count()).select_from(inbox_items)
                  .where(inbox_items.c.user_id == users.c.user_id, inbox_items.c.seq > users.c.last_seq)
                  .scalar_subquery())
        await conn.execute(update(users).where(self.db.among(users.c.user_id, behind))
                           .values(last_seq=users.c.last_seq + copied, broadcast_mark=head))
        return writes

    def _copies(self, user_ids: list[str], head: int, now: int) -> Any:
        """One row per (user, broadcast) the user should have and has not copied: the audience at publish time."""
        u, b, n = users.c, broadcasts.c, notifications.c
        following = exists().where(topic_subscribers.c.topic == b.topic, topic_subscribers.c.user_id == u.user_id,
                                   topic_subscribers.c.created_at <= b.created_at)
        followed = exists().where(topic_follows_ended.c.topic == b.topic, topic_follows_ended.c.user_id == u.user_id,
                                  topic_follows_ended.c.followed_at <= b.created_at,
                                  topic_follows_ended.c.ended_at > b.created_at)
        actors = case((n.actor.is_(None), null()),
                      else_=(func.json_array if self.db.is_sqlite else func.json_build_array)(n.actor))
        return (select(u.user_id, n.id, u.last_seq + func.row_number().over(partition_by=u.user_id, order_by=b.bseq),
                       n.id, n.group_key, literal(1), actors, false(), n.created_at, n.created_at, n.replace_key,
                       n.type, n.category, false(), false())
                .select_from(users.join(broadcasts, and_(b.bseq > u.broadcast_mark, b.bseq <= head,
                                                         b.created_at >= u.created_at))
                             .join(notifications, n.id == b.notification_id))
                .where(self.db.among(u.user_id, user_ids), n.retracted_at.is_(None),
                       or_(n.expires_at.is_(None), n.expires_at > now),
                       or_(b.topic.is_(None), following, followed)))

    async def prune(self, older_than_ms: int) -> int:
        """Forget broadcasts sent before the cutoff: an inbox that never copied them is past retention for them too."""
        async with self.db.write() as conn:
            removed = (await conn.execute(broadcasts.delete().where(broadcasts.c.created_at < older_than_ms))).rowcount
            await conn.execute(topic_follows_ended.delete().where(topic_follows_ended.c.ended_at < older_than_ms))
        return int(removed or 0)


_COPY_COLUMNS = ["user_id", "id", "seq", "notification_id", "group_key", "group_count", "actors", "read",
                 "created_at", "updated_at", "replace_key", "type", "category", "seen", "archived"]
