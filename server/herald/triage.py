"""Triage: what a user does with an inbox item besides reading it, synced to every tab and device.

Per item: ``seen`` (the list was open while it was shown), ``read`` (and mark unread),
``archived`` (out of the list, into the archive view), ``snoozedUntil`` (out of the list until
then; the sweep here brings it back as news, a fresh ``notification`` event that toasts again)
and ``action`` (a button the user clicked: marks it read, and the producer's backend hears of
it through the ``action`` webhook; archiving sends ``archived``).

Every change is one ``triage`` inbox change (inbox.py ``record_changes``): it takes the user's
next sequence number, so it reaches live connections through the bus and resumes exactly on
every transport like ``read`` does. Its body names the changed ids and the new state:
``{"ids": [...], "archived": true, "unreadCount": 3}``. Only ids whose state actually changed
are named; a change that changes nothing records nothing.

Filters (``type`` prefix patterns such as ``order.*``, ``archived``, ``read``, ``category``)
narrow the list, the bulk operations and the counts alike.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import msgspec
from sqlalchemy import and_, case, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.db import Database
from herald.errors import invalid_request, not_found
from herald.inbox import UNREAD, Inbox
from herald.metrics import Metrics
from herald.models import inbox_items, notifications, users
from herald.tasks import repeat
from herald.wire import encoder, now_ms

if TYPE_CHECKING:
    from herald.publish import Publisher
    from herald.webhooks import Webhooks

log = logging.getLogger("herald.triage")

MAX_PATTERNS = 20
MAX_TABS = 12
MAX_IDS = 500
MAX_SNOOZE_MS = 366 * 24 * 3600 * 1000
_PATTERN = re.compile(r"^(\*|[A-Za-z0-9_.:\-]{1,100}\*?)$")


def type_clause(patterns: Sequence[str]) -> Any:
    """``order.*`` (or ``order*``) matches by prefix, anything else exactly, ``*`` everything; any of them."""
    if len(patterns) > MAX_PATTERNS:
        raise invalid_request(f"At most {MAX_PATTERNS} type patterns.")
    clauses = []
    for pattern in patterns:
        if not _PATTERN.match(pattern):
            raise invalid_request(f"Not a type pattern: {pattern[:40]!r} (letters, digits, _.:- and a final *).")
        if pattern == "*":
            return true()
        if pattern.endswith("*"):
            clauses.append(inbox_items.c.type.startswith(pattern[:-1], autoescape=True))
        else:
            clauses.append(inbox_items.c.type == pattern)
    return or_(*clauses) if clauses else true()


@dataclass(frozen=True)
class ItemFilter:
    """Which items of the user's inbox: by type patterns, category, archived (default: not) and read state."""

    types: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    archived: bool | None = False
    read: bool | None = None

    def clauses(self, now: int) -> list[Any]:
        found: list[Any] = []
        if self.types:
            found.append(type_clause(self.types))
        if self.categories:
            found.append(inbox_items.c.category.in_(list(self.categories)))
        if self.archived is not None:
            found.append(inbox_items.c.archived.is_(self.archived))
        if self.read is not None:
            found.append(inbox_items.c.read.is_(self.read))
        if self.archived is not True:  # a snoozed item is out of the list until it is back (the archive still shows it)
            found.append(or_(inbox_items.c.snoozed_until.is_(None), inbox_items.c.snoozed_until <= now))
        return found


class StateChange(msgspec.Struct, rename="camel", forbid_unknown_fields=True, omit_defaults=True):
    """The new state; absent fields stay. ``snoozedUntil`` is ms since the epoch, null to wake it now."""

    read: bool | msgspec.UnsetType = msgspec.UNSET
    seen: bool | msgspec.UnsetType = msgspec.UNSET
    archived: bool | msgspec.UnsetType = msgspec.UNSET
    snoozed_until: int | None | msgspec.UnsetType = msgspec.UNSET


@dataclass(frozen=True)
class Tab:
    label: str
    filter: ItemFilter


@dataclass(frozen=True)
class Count:
    label: str
    unread: int
    unseen: int


class Triage:
    def __init__(self, db: Database, inbox: Inbox, publisher: Publisher, metrics: Metrics,
                 webhooks: Webhooks | None = None, *, sweep_interval_seconds: float = 1.0) -> None:
        self.db = db
        self.inbox = inbox
        self.publisher = publisher
        self.metrics = metrics
        self.webhooks = webhooks
        self.sweep_interval_seconds = sweep_interval_seconds

    async def change(self, user_id: str, state: StateChange, *, ids: list[str] | None = None,
                     within: ItemFilter | None = None, action: str | None = None) -> int:
        """Apply ``state`` to the given items (or every item ``within`` selects); returns the unread count.

        An unknown id (or another user's) is a 404 and changes nothing. ``action`` records a click on one
        item's button: it must be one of the item's actions, and it marks the item read.
        """
        now = now_ms()
        _check(state, now)
        values = _values(state)
        if action is not None:
            values.update(action=action, action_at=now, read=True, seen=True)
        if not values:
            raise invalid_request("Nothing to change: give at least one of read, seen, archived, snoozedUntil.")
        if ids is not None and (len(ids) > MAX_IDS or any("\x00" in i for i in ids)):
            raise not_found("No such notification in your inbox.")
        where: list[Any] = [inbox_items.c.user_id == user_id]
        if ids is not None:
            where.append(inbox_items.c.id.in_(ids))
        matching = select(inbox_items.c.id, inbox_items.c.notification_id).where(*where)
        if within is not None:
            matching = matching.where(*within.clauses(now))
        differs = or_(*(_differs(name, value) for name, value in values.items() if name != "action_at"))
        async with self.db.write() as conn:
            # The user's row first, as every publish locks it before touching items (no deadlock, inbox.py).
            await conn.execute(select(users.c.user_id).where(users.c.user_id == user_id).with_for_update())
            rows = (await conn.execute(matching)).all()
            if ids is not None and len(rows) != len(set(ids)):
                raise not_found("No such notification in your inbox.")
            if action is not None:
                await self._check_action(conn, rows[0].notification_id, action)
            changed = list((await conn.execute(
                select(inbox_items.c.id).where(*where, inbox_items.c.id.in_([r.id for r in rows]), differs)
                .order_by(inbox_items.c.seq))).scalars()) if rows else []
            if changed:
                await conn.execute(update(inbox_items).where(
                    inbox_items.c.user_id == user_id, inbox_items.c.id.in_(changed)).values(**values))
            unread = await self._unread(conn, user_id)
            write = None
            if changed:
                body = {"ids": changed, **_wire_state(values), "unreadCount": unread}
                (write,) = await self.inbox.record_changes(conn, "triage", {user_id: encoder.encode(body)})
        if write is not None:
            await self.publisher.announce([write])
            if values.get("read") is True or values.get("archived") is True or values.get("snoozed_until"):
                await self.publisher.close_on_devices(user_id, changed)  # out of sight here: out of sight there
            self._emit(user_id, changed, values, now)
        return unread

    async def click(self, user_id: str, item_id: str) -> int:
        """The user opened the item (its row, its toast or its system notification): read, and ``clicked``.

        Read and seen like any read (told to every tab and device); the backend hears ``clicked``
        on every click, also of an item read already: a click is engagement, a read is state.
        """
        unread = await self.change(user_id, StateChange(read=True, seen=True), ids=[item_id])  # 404 if not theirs
        if self.webhooks is not None and self.webhooks.wants("clicked"):
            self.webhooks.emit("clicked", {"clickedAt": now_ms()}, user_id=user_id, item_id=item_id)
        return unread

    async def counts(self, user_id: str, tabs: Sequence[Tab]) -> tuple[Count, list[Count]]:
        """Unread and unseen counts in the list, in total and per tab, in one pass over the unread rows.

        Unseen implies unread (reading an item marks it seen), so the scan reads only unread items, from
        the ``ix_inbox_items_user_triage`` index alone (type and category are copied onto the item). An
        expired item still counts until the expiry sweep removes it, within a second.
        """
        now = now_ms()
        unseen = inbox_items.c.seen.is_(False)
        columns = [func.count(), func.sum(case((unseen, 1), else_=0))]
        for tab in tabs:
            match = and_(true(), *tab.filter.clauses(now))
            columns += [func.sum(case((match, 1), else_=0)), func.sum(case((and_(match, unseen), 1), else_=0))]
        query = select(*columns).select_from(inbox_items).where(inbox_items.c.user_id == user_id, *UNREAD)
        async with self.db.read() as conn:
            row = [int(v or 0) for v in (await conn.execute(query)).one()]
        total = Count("", row[0], row[1])
        return total, [Count(tab.label, row[2 + 2 * i], row[3 + 2 * i]) for i, tab in enumerate(tabs)]

    async def categories(self, user_id: str) -> list[str]:
        """The categories of the user's items in the list: the bell's tabs when the page gives none."""
        async with self.db.read() as conn:
            return sorted(c for c in (await conn.execute(
                select(inbox_items.c.category).distinct()
                .where(inbox_items.c.user_id == user_id, inbox_items.c.archived.is_(False),
                       inbox_items.c.category.is_not(None)))).scalars() if c)

    async def wake_once(self) -> int:
        """Bring back every item whose snooze is over, as news on every live connection; returns how many."""
        now = now_ms()
        due = inbox_items.c.snoozed_until <= now
        async with self.db.read() as conn:  # most sweeps find nothing: leave SQLite's one writer to publishes
            if (await conn.execute(select(inbox_items.c.id).where(due).limit(1))).first() is None:
                return 0
        woken = 0
        while True:  # one item per user per round: each takes the user's next sequence number
            async with self.db.write() as conn:
                rows = (await conn.execute(select(inbox_items.c.user_id, inbox_items.c.id).where(due)
                                           .order_by(inbox_items.c.snoozed_until).limit(1000))).all()
                first: dict[str, str] = {}
                for row in rows:
                    first.setdefault(row.user_id, row.id)
                writes = await self.inbox.resurface(conn, first)
            await self.publisher.announce(writes)
            woken += len(first)
            if len(first) == len(rows):
                return woken

    async def run_forever(self) -> None:
        await repeat("snooze sweep", self.wake_once, self.sweep_interval_seconds, self.metrics.database_errors.labels("snooze").inc)

    @staticmethod
    async def _check_action(conn: AsyncConnection, notification_id: str, action: str) -> None:
        actions = (await conn.execute(select(notifications.c.actions).where(
            notifications.c.id == notification_id))).scalar() or []
        if action not in {a.get("id") for a in actions}:
            raise not_found("This notification has no action with that id.")

    async def _unread(self, conn: AsyncConnection, user_id: str) -> int:
        return (await conn.execute(select(func.count()).select_from(inbox_items).where(
            inbox_items.c.user_id == user_id, *UNREAD))).scalar() or 0

    def _emit(self, user_id: str, changed: list[str], values: dict[str, Any], now: int) -> None:
        """The producer's backend hears of reads, actions and archives (webhooks), after the commit."""
        if self.webhooks is None:
            return
        if values.get("read") is True and self.webhooks.wants("read"):  # as a read through publish_read says it
            for item_id in changed:
                self.webhooks.emit("read", {"readAt": now}, user_id=user_id, item_id=item_id)
        if values.get("archived") is True and self.webhooks.wants("archived"):
            for item_id in changed:
                self.webhooks.emit("archived", {"archivedAt": now}, user_id=user_id, item_id=item_id)
        if values.get("action") and self.webhooks.wants("action"):
            for item_id in changed:
                self.webhooks.emit("action", {"action": values["action"], "at": now}, user_id=user_id, item_id=item_id)


def _check(state: StateChange, now: int) -> None:
    until = state.snoozed_until
    if isinstance(until, int) and not now < until <= now + MAX_SNOOZE_MS:
        raise invalid_request('"snoozedUntil" must be in the future and at most a year ahead (ms since the epoch).')


def _values(state: StateChange) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if state.read is not msgspec.UNSET:
        values["read"] = state.read
        if state.read:
            values["seen"] = True  # reading an item is seeing it
    if state.seen is not msgspec.UNSET:
        values["seen"] = state.seen or values.get("seen", False)
    if state.archived is not msgspec.UNSET:
        values["archived"] = state.archived
    if state.snoozed_until is not msgspec.UNSET:
        values["snoozed_until"] = state.snoozed_until
    return values


def _differs(name: str, value: Any) -> Any:
    column = inbox_items.c[name]
    if value is None:
        return column.is_not(None)
    if isinstance(value, bool):
        return column.is_not(value)
    return or_(column.is_(None), column != value)


_WIRE = {"read": "read", "seen": "seen", "archived": "archived", "snoozed_until": "snoozedUntil", "action": "action"}


def _wire_state(values: dict[str, Any]) -> dict[str, Any]:
    return {_WIRE[name]: value for name, value in values.items() if name in _WIRE}

