"""Each user's inbox: the durable history every transport replays from.

Writes take the per-user sequence under the user row's lock (sequence.py), so
committed sequence numbers are contiguous per user and a higher committed
number proves every lower one is committed too. The gateway's cursor logic
relies on exactly that.

Two things take sequence numbers: items (new, or updated in place by a group,
which moves them to a new number) and changes (``inbox_changes``: read state
today). Replaying after a cursor merges both in order, so a stream that was
away gets what changed meanwhile exactly as it gets new items.

A ``replaceKey`` updates the user's item with that key in place, whatever its
age: same id, new sequence number, unread again (unless the update is silent).
Retracting (retraction.py) deletes items and records a ``retract`` change; an
item whose notification has expired is left out of every page and replay
even before the sweep removes it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import msgspec
from sqlalchemy import and_, bindparam, delete, exists, false, func, literal, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.db import Database
from herald.models import inbox_changes, inbox_items, notifications, preferences, topic_subscribers, users
from herald.sequence import Setup, allocate, allocate_with_setup
from herald.wire import PRIORITY_RANK, Notification, encoder, now_ms

MAX_ACTORS = 3


# A change waits behind every older item queued with it (ties go by sequence), so a ``read``
# does not overtake the items it names on a slow connection.
CHANGE_RANK = PRIORITY_RANK["low"]


@dataclass(frozen=True, slots=True)
class InboxWrite:
    """One inbox write, ready for the bus: ``payload`` is the notification's JSON, or the change's body.

    ``kind`` is ``notification`` for an item, else the change's event name (``read``).
    ``has_preferences`` and ``has_push`` (a new item's recipient has saved preferences, has a push target)
    let preferences.py and push/service.py skip their queries for the recipients without; None: not known, ask.
    """

    user_id: str
    seq: int
    rank: int
    payload: bytes
    kind: str = "notification"
    has_preferences: bool | None = None
    has_push: bool | None = None


@dataclass(frozen=True, slots=True)
class Change:
    seq: int
    kind: str
    body: bytes


@dataclass(frozen=True, slots=True)
class StreamStart:
    last_seq: int
    pruned_seq: int
    unread: int
    topics: tuple[str, ...] = ()
    """The topics the user follows: the connection hears their broadcasts live (broadcasts.py)."""
    personal: bool = False
    """The user saved preferences: a broadcast's live event is marked for them alone (gateway.py)."""


NEW_USER = StreamStart(0, 0, 0)


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Notification]
    seqs: list[int]
    unread: int
    changes: list[Change] = field(default_factory=list)
    """For a ``since`` page: the changes among the same sequence numbers, oldest first."""


Replayed = tuple[int, int, str, bytes]
"""(seq, rank, kind, payload) of one item or change read back for a stream."""


_ITEM_COLUMNS = (
    inbox_items.c.seq,
    inbox_items.c.id,
    inbox_items.c.read,
    inbox_items.c.group_count,
    inbox_items.c.actors,
    notifications.c.type,
    notifications.c.title,
    notifications.c.body,
    notifications.c.priority,
    notifications.c.created_at,
    notifications.c.group_key,
    notifications.c.url,
    notifications.c.data,
    notifications.c.replace_key,
    notifications.c.silent,
    notifications.c.avatar_url,
    notifications.c.image_url,
    notifications.c.category,
    notifications.c.actions,
    inbox_items.c.seen,
    inbox_items.c.archived,
    inbox_items.c.snoozed_until,
    inbox_items.c.action,
)


_decode_item = msgspec.json.Decoder(Notification).decode


def _item(row: Row[Any]) -> Notification:
    return Notification(
        id=row.id, type=row.type, title=row.title, body=row.body, priority=row.priority,
        timestamp=row.created_at, read=bool(row.read), group_key=row.group_key, url=row.url,
        data=row.data, group_count=row.group_count, actors=row.actors,
        replace_key=row.replace_key if row.replace_key is not None else msgspec.UNSET,
        silent=True if row.silent else msgspec.UNSET,
        avatar_url=row.avatar_url or msgspec.UNSET, image_url=row.image_url or msgspec.UNSET,
        category=row.category or msgspec.UNSET, actions=row.actions or msgspec.UNSET,
        seen=True if row.seen else msgspec.UNSET, archived=True if row.archived else msgspec.UNSET,
        snoozed_until=row.snoozed_until or msgspec.UNSET, action=row.action or msgspec.UNSET,
    )


def _write(user: str, seq: int, rank: int, payload: bytes, setup: dict[str, Setup]) -> InboxWrite:
    known = setup.get(user)
    if known is None:
        return InboxWrite(user, seq, rank, payload)
    return InboxWrite(user, seq, rank, payload, has_preferences=known.has_preferences, has_push=known.has_push)


class Inbox:
    def __init__(self, db: Database, group_window_seconds: int) -> None:
        self.db = db
        self.group_window_ms = group_window_seconds * 1000
        self._item_insert_statement: Any = None

    async def deliver(self, conn: AsyncConnection, note: dict[str, Any], user_ids: Sequence[str]) -> list[InboxWrite]:
        """Put ``note`` (already inserted) into each user's inbox inside the caller's transaction."""
        if not user_ids:
            return []
        seqs, setup = await allocate_with_setup(self.db, conn, sorted(set(user_ids)), note["created_at"])
        grouped = await self._open_groups(conn, note, list(seqs)) if note["group_key"] else {}
        rank = PRIORITY_RANK[note["priority"]]
        deliveries: list[InboxWrite] = []
        if note.get("replace_key"):
            deliveries = await self._replace(conn, note, seqs, rank, setup)
        replaced = {write.user_id for write in deliveries}
        fresh = [user for user in seqs if user not in grouped and user not in replaced]
        if fresh:
            await self._insert_items(conn, note, fresh)
            shared = encoder.encode(self.wire(note, note["id"], 1, [note["actor"]] if note["actor"] else None))
            deliveries.extend(_write(user, seqs[user], rank, shared, setup) for user in fresh)
        if grouped:
            await conn.execute(
                update(inbox_items)
                .where(inbox_items.c.user_id == bindparam("u"), inbox_items.c.id == bindparam("item"))
                .values(seq=bindparam("s"), notification_id=note["id"], group_count=bindparam("n"),
                        actors=bindparam("a"), updated_at=note["created_at"], type=note["type"],
                        category=note.get("category"), delivered_at=None,
                        # A new member is news: back in the list, not seen yet.
                        seen=False, archived=False, snoozed_until=None),  # a new version: it has reached nobody yet
                [{"u": user, "item": item_id, "s": seqs[user], "n": count, "a": actors}
                 for user, (item_id, count, actors) in grouped.items()])
        for user, (item_id, count, actors) in grouped.items():
            deliveries.append(_write(user, seqs[user], rank, encoder.encode(self.wire(note, item_id, count, actors)), setup))
        return deliveries

    async def _replace(self, conn: AsyncConnection, note: dict[str, Any], seqs: dict[str, int],
                       rank: int, setup: dict[str, Setup]) -> list[InboxWrite]:
        """Update each user's item with the note's replace key in place: its id stays, it moves to the top.

        Unread again, as a new version is news; a silent update keeps the read state it had.
        """
        found = {row.user_id: row for row in (await conn.execute(
            select(inbox_items.c.user_id, inbox_items.c.id, inbox_items.c.read, inbox_items.c.seen,
                   inbox_items.c.archived, inbox_items.c.snoozed_until, inbox_items.c.action)
            .where(self.db.among(inbox_items.c.user_id, list(seqs)), inbox_items.c.replace_key == note["replace_key"])
        )).all()}  # one item per user and key: each replace finds the one the first publish made
        if not found:
            return []
        actors = [note["actor"]] if note["actor"] else None
        silent = bool(note.get("silent"))
        keep_read = {user: bool(row.read) and silent for user, row in found.items()}
        # A new version is news: its triage starts over (not seen, in the list, no action); a silent one keeps it.
        untriaged = {} if silent else {"seen": False, "archived": False, "snoozed_until": None, "action": None,
                                       "action_at": None}
        await conn.execute(
            update(inbox_items)
            .where(inbox_items.c.user_id == bindparam("u"), inbox_items.c.id == bindparam("item"))
            .values(seq=bindparam("s"), notification_id=note["id"], group_key=None, group_count=1,
                    actors=bindparam("a"), read=bindparam("r"), updated_at=note["created_at"], type=note["type"],
                    category=note.get("category"), delivered_at=None, **untriaged),  # a new version: it has reached nobody yet
            [{"u": user, "item": row.id, "s": seqs[user], "a": actors, "r": keep_read[user]}
             for user, row in found.items()])
        writes = []
        for user, row in found.items():
            wire = self.wire(note, row.id, 1, actors)
            wire.read = keep_read[user]
            if silent:
                wire.seen = True if row.seen else msgspec.UNSET
                wire.archived = True if row.archived else msgspec.UNSET
                wire.snoozed_until = row.snoozed_until or msgspec.UNSET
                wire.action = row.action or msgspec.UNSET
            writes.append(_write(user, seqs[user], rank, encoder.encode(wire), setup))
        return writes

    async def above_head(self, conn: AsyncConnection, user_ids: list[str]) -> list[InboxWrite]:
        """Items written in this transaction above each user's ``last_seq`` (not bumped yet), ready for the bus."""
        rows = await conn.execute(
            self._join().add_columns(inbox_items.c.user_id).join(users, users.c.user_id == inbox_items.c.user_id)
            .where(self.db.among(inbox_items.c.user_id, user_ids), inbox_items.c.seq > users.c.last_seq)
            .order_by(inbox_items.c.user_id, inbox_items.c.seq))
        return [InboxWrite(row.user_id, row.seq, PRIORITY_RANK[row.priority], encoder.encode(_item(row)))
                for row in rows]

    async def record_changes(self, conn: AsyncConnection, kind: str, bodies: dict[str, bytes]) -> list[InboxWrite]:
        """One change per user (its event body, JSON), each at the user's next sequence number, in the caller's transaction."""
        if not bodies:
            return []
        now = now_ms()
        seqs = await self._allocate(conn, sorted(bodies), now)
        await conn.execute(inbox_changes.insert(), [
            {"user_id": user, "seq": seqs[user], "kind": kind, "body": body.decode(), "created_at": now}
            for user, body in bodies.items()])
        return [InboxWrite(user, seqs[user], CHANGE_RANK, body, kind) for user, body in bodies.items()]

    async def _allocate(self, conn: AsyncConnection, user_ids: list[str], now: int) -> dict[str, int]:
        """Take the next sequence number of each user (``user_ids`` sorted), inside the caller's transaction."""
        return await allocate(self.db, conn, user_ids, now)

    async def _open_groups(self, conn: AsyncConnection, note: dict[str, Any], user_ids: list[str]) -> dict[str, tuple[str, int, list[str] | None]]:
        """Unread items of the same group inside the window, per user: (item id, new count, new actors)."""
        found: dict[str, tuple[str, int, list[str] | None]] = {}
        rows = await conn.execute(
            select(inbox_items.c.user_id, inbox_items.c.id, inbox_items.c.group_count, inbox_items.c.actors)
            .where(self.db.among(inbox_items.c.user_id, user_ids), inbox_items.c.group_key == note["group_key"],
                   inbox_items.c.read.is_(False), inbox_items.c.created_at >= note["created_at"] - self.group_window_ms)
        )
        for row in rows:
            actors = list(row.actors or [])
            if note["actor"]:
                actors = [note["actor"]] + [a for a in actors if a != note["actor"]]
            found[row.user_id] = (row.id, row.group_count + 1, actors[:MAX_ACTORS] or None)
        return found

    async def _insert_items(self, conn: AsyncConnection, note: dict[str, Any], user_ids: list[str]) -> None:
        """One new item per user, its seq read from the row ``_allocate`` just bumped (same transaction)."""
        await conn.execute(self._item_insert(), {
            "nid": note["id"], "created": note["created_at"], "group_key": note["group_key"],
            "actors": [note["actor"]] if note["actor"] else None, "replace_key": note.get("replace_key"),
            "type": note["type"], "category": note.get("category"), "users": self.db.among_values(user_ids)})

    def _item_insert(self) -> Any:
        """``_insert_items``' statement, built once: bound parameters, so SQLAlchemy keeps its compiled form."""
        if self._item_insert_statement is None:
            c = inbox_items.c
            nid, created = bindparam("nid", type_=c.id.type), bindparam("created", type_=c.created_at.type)
            self._item_insert_statement = inbox_items.insert().from_select(
                ["user_id", "id", "seq", "notification_id", "group_key", "group_count", "actors", "read",
                 "created_at", "updated_at", "replace_key", "type", "category"],
                select(users.c.user_id, nid, users.c.last_seq, nid, bindparam("group_key", type_=c.group_key.type),
                       literal(1, c.group_count.type), bindparam("actors", type_=c.actors.type), false(), created,
                       created, bindparam("replace_key", type_=c.replace_key.type),
                       bindparam("type", type_=c.type.type), bindparam("category", type_=c.category.type))
                .where(self.db.among_bound(users.c.user_id, "users")))
        return self._item_insert_statement

    @staticmethod
    def wire(note: dict[str, Any], item_id: str, count: int, actors: list[str] | None) -> Notification:
        return Notification(
            id=item_id, type=note["type"], title=note["title"], body=note["body"], priority=note["priority"],
            timestamp=note["created_at"], read=False, group_key=note["group_key"], url=note["url"],
            data=note["data"], group_count=count, actors=actors,
            replace_key=note.get("replace_key") or msgspec.UNSET, silent=True if note.get("silent") else msgspec.UNSET,
            avatar_url=note.get("avatar_url") or msgspec.UNSET, image_url=note.get("image_url") or msgspec.UNSET,
            category=note.get("category") or msgspec.UNSET, actions=note.get("actions") or msgspec.UNSET,
        )

    async def stream_start(self, user_id: str) -> StreamStart:
        return (await self.stream_starts([user_id]))[user_id]

    async def stream_starts(self, user_ids: list[str]) -> dict[str, StreamStart]:
        """Where each user's stream starts (head, retention floor, unread), in one query for many users."""
        unread = (select(func.count()).select_from(inbox_items)
                  .where(inbox_items.c.user_id == users.c.user_id, *UNREAD).scalar_subquery())
        # The topics followed, space-separated (names hold no space), so one query still answers a whole batch.
        joined = func.group_concat if self.db.is_sqlite else func.string_agg
        topics = (select(joined(topic_subscribers.c.topic, " ")).where(topic_subscribers.c.user_id == users.c.user_id)
                  .scalar_subquery())
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(users.c.user_id, users.c.last_seq, users.c.pruned_seq, unread.label("unread"),
                       exists().where(preferences.c.user_id == users.c.user_id).label("personal"),
                       topics.label("topics"))
                .where(self.db.among(users.c.user_id, user_ids)))
            found = {row.user_id: StreamStart(row.last_seq, row.pruned_seq, row.unread,
                                              tuple(sorted(row.topics.split(" "))) if row.topics else (),
                                              bool(row.personal))
                     for row in rows}
        return {user_id: found.get(user_id, NEW_USER) for user_id in user_ids}

    async def items_after(self, user_id: str, after: int, limit: int, until: int | None = None) -> list[Replayed]:
        """Items and changes with ``after < seq <= until``, oldest first, at most ``limit``.

        Every sequence number in (after, last returned] that is not returned does not exist
        (moved by a group update, or never committed): callers may count it as seen.
        """
        async with self.db.read() as conn:
            return await self._after(conn, user_id, after, limit, until)

    async def _after(self, conn: AsyncConnection, user_id: str, after: int, limit: int,
                     until: int | None) -> list[Replayed]:
        items = [inbox_items.c.user_id == user_id, inbox_items.c.seq > after]
        changes = [inbox_changes.c.user_id == user_id, inbox_changes.c.seq > after]
        if until is not None:
            items.append(inbox_items.c.seq <= until)
            changes.append(inbox_changes.c.seq <= until)
        found: list[Replayed] = [
            (row.seq, PRIORITY_RANK[row.priority], "notification", encoder.encode(_item(row)))
            for row in await conn.execute(self._join().where(*items).order_by(inbox_items.c.seq).limit(limit))]
        found += [(row.seq, CHANGE_RANK, row.kind, row.body.encode()) for row in await conn.execute(
            select(inbox_changes.c.seq, inbox_changes.c.kind, inbox_changes.c.body)
            .where(*changes).order_by(inbox_changes.c.seq).limit(limit))]
        # Each query is complete up to its own last row; the first ``limit`` of the two merged
        # lie below both of those, so nothing between them is missing.
        found.sort()
        return found[:limit]

    async def page(self, user_id: str, *, since: int | None, before: int | None, limit: int,
                   where: Sequence[Any] = ()) -> Page:
        """A page of the list; ``where`` narrows a newest/``before`` page (triage.py's filters), never a replay."""
        if since is not None:
            async with self.db.read() as conn:
                rows = await self._after(conn, user_id, since, limit, None)
                unread = await self._unread(conn, user_id)
            items = [row for row in rows if row[2] == "notification"]
            return Page([_decode_item(payload) for *_, payload in items], [row[0] for row in rows], unread,
                        [Change(seq, kind, payload) for seq, _, kind, payload in rows if kind != "notification"])
        query = self._join().where(inbox_items.c.user_id == user_id, *where)
        if before is not None:
            query = query.where(inbox_items.c.seq < before)
        query = query.order_by(inbox_items.c.seq.desc())
        async with self.db.read() as conn:
            rows = (await conn.execute(query.limit(limit))).all()
            unread = await self._unread(conn, user_id)
        return Page([_item(row) for row in rows], [row.seq for row in rows], unread)

    async def last_seq(self, user_id: str) -> int:
        async with self.db.read() as conn:
            value = (await conn.execute(select(users.c.last_seq).where(users.c.user_id == user_id))).scalar()
        return value or 0

    async def mark_read(self, user_id: str, item_ids: Iterable[str] | None) -> tuple[InboxWrite | None, int] | None:
        """Mark the given items (or all, for ``None``) read, recording the change for every other connection.

        Returns (the recorded change, or None when nothing changed; the unread count), or None if an id is unknown.
        """
        async with self.db.write() as conn:
            where = [inbox_items.c.user_id == user_id]
            if item_ids is not None:
                wanted = list(item_ids)
                where.append(inbox_items.c.id.in_(wanted))
                existing = (await conn.execute(select(func.count()).select_from(inbox_items).where(*where))).scalar()
                if existing != len(set(wanted)):
                    return None
            changed = [r.id for r in await conn.execute(
                select(inbox_items.c.id).where(*where, inbox_items.c.read.is_(False))
            )]
            if changed:
                await conn.execute(update(inbox_items).where(*where, inbox_items.c.read.is_(False))
                                   .values(read=True, seen=True))  # reading an item is seeing it
            unread = await self._unread(conn, user_id)
            write = None
            if changed or item_ids is None:
                body = {"all": True, "unreadCount": unread} if item_ids is None else {"ids": changed, "unreadCount": unread}
                (write,) = await self.record_changes(conn, "read", {user_id: encoder.encode(body)})
        return write, unread

    async def resurface(self, conn: AsyncConnection, items: dict[str, str]) -> list[InboxWrite]:
        """Bring back one snoozed item per user (user -> item id) as news: a new sequence number, unread, unseen.

        Its live connections get it as a fresh ``notification`` event, as a new item, so it toasts again.
        """
        if not items:
            return []
        seqs = await self._allocate(conn, sorted(items), now_ms())
        await conn.execute(
            # Still snoozed: a node that swept it first already woke it (its number here is then a gap).
            update(inbox_items).where(inbox_items.c.user_id == bindparam("u"), inbox_items.c.id == bindparam("item"),
                                      inbox_items.c.snoozed_until.is_not(None))
            .values(seq=bindparam("s"), snoozed_until=None, read=False, seen=False, delivered_at=None,
                    updated_at=bindparam("now")),
            [{"u": user, "item": item, "s": seqs[user], "now": now_ms()} for user, item in items.items()])
        rows = (await conn.execute(self._join().where(
            self.db.among(inbox_items.c.user_id, sorted(items)),
            inbox_items.c.seq.in_(list(seqs.values()))))).all()
        by_user = {}
        for row in rows:
            by_user[row.seq] = row
        writes = []
        for user, seq in seqs.items():
            row = by_user.get(seq)
            if row is not None:  # expired meanwhile: the expiry sweep tells the lists
                writes.append(InboxWrite(user, seq, PRIORITY_RANK[row.priority], encoder.encode(_item(row))))
        return writes

    async def unread_count(self, user_id: str) -> int:
        async with self.db.read() as conn:
            return await self._unread(conn, user_id)

    async def prune(self, older_than_ms: int) -> int:
        """Delete items last updated before the cutoff; remember the highest deleted seq per user."""
        async with self.db.write() as conn:
            doomed = and_(inbox_items.c.updated_at < older_than_ms)
            highest = (await conn.execute(
                select(inbox_items.c.user_id, func.max(inbox_items.c.seq).label("seq"))
                .where(doomed).group_by(inbox_items.c.user_id)
            )).all()
            for row in highest:
                await conn.execute(
                    update(users).where(users.c.user_id == row.user_id, users.c.pruned_seq < row.seq)
                    .values(pruned_seq=row.seq)
                )
            old_changes = inbox_changes.c.created_at < older_than_ms
            for row in (await conn.execute(
                    select(inbox_changes.c.user_id, func.max(inbox_changes.c.seq).label("seq"))
                    .where(old_changes).group_by(inbox_changes.c.user_id))).all():
                await conn.execute(
                    update(users).where(users.c.user_id == row.user_id, users.c.pruned_seq < row.seq)
                    .values(pruned_seq=row.seq)
                )
            await conn.execute(delete(inbox_changes).where(old_changes))
            removed = (await conn.execute(delete(inbox_items).where(doomed))).rowcount or 0
            referenced = select(inbox_items.c.notification_id).where(
                inbox_items.c.notification_id == notifications.c.id
            ).exists()
            await conn.execute(
                delete(notifications).where(notifications.c.created_at < older_than_ms, ~referenced)
            )
        return removed

    @staticmethod
    def _join() -> Any:
        # An expired item is gone for readers at once; the sweep (retraction.py) then tells the live lists.
        return select(*_ITEM_COLUMNS).select_from(
            inbox_items.join(notifications, inbox_items.c.notification_id == notifications.c.id)
        ).where(or_(notifications.c.expires_at.is_(None), notifications.c.expires_at > now_ms()))

    @staticmethod
    async def _unread(conn: AsyncConnection, user_id: str) -> int:
        return (await conn.execute(
            select(func.count()).select_from(inbox_items)
            .where(inbox_items.c.user_id == user_id, *UNREAD)
        )).scalar() or 0


UNREAD = (inbox_items.c.read.is_(False), inbox_items.c.archived.is_(False), inbox_items.c.snoozed_until.is_(None))
"""What the badge counts: unread items in the list (an archived or snoozed item is out of it, triage.py)."""
