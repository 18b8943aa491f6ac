"""Correcting a sent notification: a new title, body or link in every inbox it reached, without a new alert.

Support staff fix a typo or a wrong price from the admin console (the
notification's page). The notification row is the one source of its content,
so the edit updates that row; each inbox item that shows this notification
(its current version: an item a later publish of the same group took over
shows that one, and is left alone) moves to the user's next sequence number,
as a silent replace does, so that every open list updates it in place and a
stream that was away replays it. Read state is kept and nothing alerts: no
toast, no system notification, no push. The corrected version is stored as
``silent``, as a silent replace is, so a poll or a replay after a reconnect
does not alert for it either; the alert (and the push) went out when it was
first sent.

Users' rows are locked (in user-id order, as every publish locks them) before
the items are read again and moved: a publish grouping into one of these
items in between would otherwise be overwritten by the old version.
"""
from __future__ import annotations

from typing import Annotated

import msgspec
from sqlalchemy import bindparam, select, update

from herald.db import Database
from herald.errors import invalid_request, not_found
from herald.inbox import Inbox, InboxWrite
from herald.models import inbox_items, notifications, users
from herald.publish import Publisher
from herald.wire import PRIORITY_RANK, encoder, now_ms, safe_url


class Edit(msgspec.Struct, forbid_unknown_fields=True):
    """What may change once sent, with the limits a publish has (wire.PublishRequest)."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    body: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    url: Annotated[str, msgspec.Meta(max_length=2048)] | None = None


def check_edit(title: str, body: str, url: str | None) -> Edit:
    """The edit, or a 400 that names what is wrong (the same rules as a publish)."""
    try:
        edit = msgspec.convert({"title": title.strip(), "body": body, "url": url or None}, Edit)
    except msgspec.ValidationError as exc:
        raise invalid_request(f"Not saved: {exc}.") from None
    if any("\x00" in value for value in (edit.title, edit.body, edit.url or "")):
        raise invalid_request("Not saved: NUL characters are not allowed.")
    if edit.url is not None and not safe_url(edit.url):
        raise invalid_request("Not saved: the URL must be a relative path or an http(s) URL.")
    return edit


class Corrections:
    def __init__(self, db: Database, inbox: Inbox, publisher: Publisher) -> None:
        self.db = db
        self.inbox = inbox
        self.publisher = publisher

    async def edit(self, notification_id: str, edit: Edit) -> int:
        """Apply ``edit`` to the notification and to every item that shows it; how many items were updated.

        404 if the notification is unknown or was retracted (its items are gone).
        """
        now = now_ms()
        async with self.db.write() as conn:
            note = (await conn.execute(select(notifications).where(
                notifications.c.id == notification_id, notifications.c.retracted_at.is_(None)))).mappings().first()
            if note is None:
                raise not_found("No such notification, or it was retracted.")
            await conn.execute(update(notifications).where(notifications.c.id == notification_id)
                               .values(title=edit.title, body=edit.body, url=edit.url, silent=True))
            shown = inbox_items.c.notification_id == notification_id
            holders = sorted(set((await conn.execute(select(inbox_items.c.user_id).where(shown))).scalars()))
            if not holders:
                return 0
            await conn.execute(select(users.c.user_id).where(self.db.among(users.c.user_id, holders))
                               .order_by(users.c.user_id).with_for_update())
            items = (await conn.execute(select(inbox_items.c.user_id, inbox_items.c.id, inbox_items.c.read,
                                               inbox_items.c.group_count, inbox_items.c.actors)
                                        .where(shown, self.db.among(inbox_items.c.user_id, holders)))).all()
            if not items:
                return 0
            seqs = await self.inbox._allocate(conn, sorted({item.user_id for item in items}), now)
            await conn.execute(
                update(inbox_items)
                .where(inbox_items.c.user_id == bindparam("u"), inbox_items.c.id == bindparam("item"))
                .values(seq=bindparam("s"), updated_at=now),
                [{"u": item.user_id, "item": item.id, "s": seqs[item.user_id]} for item in items])
        revised = {**note, "title": edit.title, "body": edit.body, "url": edit.url, "silent": True}
        writes = []
        for item in items:
            wire = Inbox.wire(revised, item.id, item.group_count, item.actors)
            wire.read = bool(item.read)
            writes.append(InboxWrite(item.user_id, seqs[item.user_id], PRIORITY_RANK[note["priority"]],
                                     encoder.encode(wire)))
        await self.publisher.announce(writes)
        return len(writes)
