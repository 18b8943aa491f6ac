"""Recent notifications and how each was delivered: sent, delivered, read; live, pushed, pending.

What the numbers mean (also on the page and in docs/admin.md):

- recipients: users the target named at publish time (``notifications.recipients``);
- live: of those, how many had a live connection (``admin_delivery``);
- pushed: Web Push messages queued for the others, one per browser subscription;
- pending: pushes still waiting in the queue (retrying, or held for a receipt);
- by channel (the notification's page): per provider (Web Push, FCM, APNs),
  pushes the push service accepted, pushes that failed for good (refused,
  token gone, expired, given up) and pushes still pending (``push_results``,
  written by the push worker as it settles each push);
- sent, delivered, read: inbox items that point at this notification; of those,
  the ones a client acknowledged (receipts.py) or the user read (reading
  proves arrival, e.g. from a system notification), and the read ones. An item
  that a later notification of the same ``groupKey`` updated points at the
  later one, so it leaves all three counts of the earlier notification.

A notification's page can correct it (correction.py: a new title, body or
link in every inbox, silently) or retract it (retraction.py: its items leave
every inbox, open list and shown notification); the page then says when, and
the audit log who and what.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, Response, get, post
from sqlalchemy import case, func, or_, select

from herald.admin.audit import record
from herald.admin.pages import redirect, render
from herald.admin.send import describe_target
from herald.api.auth import services
from herald.correction import check_edit
from herald.db import Database
from herald.errors import not_found
from herald.models import inbox_items, notifications, push_jobs, push_results
from herald.services import Services

PAGE = 50
_COLUMNS = (notifications.c.id, notifications.c.type, notifications.c.title, notifications.c.priority,
            notifications.c.target, notifications.c.recipients, notifications.c.producer,
            notifications.c.created_at, notifications.c.live_recipients, notifications.c.push_queued)


@dataclass
class DeliveryRow:
    id: str
    type: str
    title: str
    priority: str
    target: str
    recipients: int
    sender: str
    created_at: int
    live: int | None
    pushed: int | None
    pending: int
    sent: int
    delivered: int
    read: int


async def recent(s: Services, limit: int = PAGE, before: int | None = None) -> list[DeliveryRow]:
    query = select(*_COLUMNS).order_by(notifications.c.created_at.desc(), notifications.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(notifications.c.created_at < before)
    async with s.db.read() as conn:
        rows = list(await conn.execute(query))
    return await _with_counts(s, rows)


async def one(s: Services, notification_id: str) -> tuple[DeliveryRow, Any] | None:
    async with s.db.read() as conn:
        row = (await conn.execute(select(*_COLUMNS, notifications.c.body, notifications.c.url,
                                         notifications.c.group_key, notifications.c.data,
                                         notifications.c.replace_key, notifications.c.silent,
                                         notifications.c.expires_at, notifications.c.retracted_at)
                                  .where(notifications.c.id == notification_id))).first()
    if row is None:
        return None
    return (await _with_counts(s, [row]))[0], row


@dataclass
class ChannelRow:
    provider: str
    delivered: int
    failed: int
    pending: int


CHANNEL_NAMES = {"webpush": "Web Push", "fcm": "FCM (Android)", "apns": "APNs (iOS)"}


async def channels(db: Database, notification_id: str) -> list[ChannelRow]:
    """Pushes of one notification per provider: accepted, failed for good, still queued."""
    async with db.read() as conn:
        done = {row.provider: row for row in await conn.execute(
            select(push_results).where(push_results.c.notification_id == notification_id))}
        pending = dict((await conn.execute(
            select(push_jobs.c.provider, func.count()).where(push_jobs.c.notification_id == notification_id)
            .group_by(push_jobs.c.provider))).all())
    return [ChannelRow(provider, done[provider].delivered if provider in done else 0,
                       done[provider].failed if provider in done else 0, int(pending.get(provider, 0)))
            for provider in CHANNEL_NAMES if provider in done or provider in pending]


async def readers(db: Database, notification_id: str, limit: int = 100) -> list[str]:
    async with db.read() as conn:
        return list((await conn.execute(select(inbox_items.c.user_id).where(
            inbox_items.c.notification_id == notification_id, inbox_items.c.read.is_(True))
            .order_by(inbox_items.c.user_id).limit(limit))).scalars())


async def _with_counts(s: Services, rows: list[Any]) -> list[DeliveryRow]:
    ids = [row.id for row in rows]
    if not ids:
        return []
    read = inbox_items.c.read.is_(True)
    delivered = or_(inbox_items.c.delivered_at.is_not(None), read)
    async with s.db.read() as conn:
        counts = {row[0]: row[1:] for row in await conn.execute(
            select(inbox_items.c.notification_id, func.count(), func.sum(case((delivered, 1), else_=0)),
                   func.sum(case((read, 1), else_=0)))
            .where(inbox_items.c.notification_id.in_(ids)).group_by(inbox_items.c.notification_id))}
        pending = dict((await conn.execute(
            select(push_jobs.c.item_id, func.count()).where(push_jobs.c.item_id.in_(ids))
            .group_by(push_jobs.c.item_id))).all())
        senders = await _senders(s, {row.producer for row in rows})
    return [DeliveryRow(row.id, row.type, row.title, row.priority, describe_target(row.target), row.recipients,
                     senders.get(row.producer, row.producer), row.created_at, row.live_recipients, row.push_queued,
                     pending.get(row.id, 0), *(int(n) for n in counts.get(row.id, (0, 0, 0)))) for row in rows]


async def _senders(s: Services, producers: set[str]) -> dict[str, str]:
    """Readable names for producer identities: admins, the demo page, API keys by name."""
    names: dict[str, str] = {}
    for producer in producers:
        if producer.startswith("admin:"):
            names[producer] = f"{producer[6:]} (admin)"
        elif producer == "demo":
            names[producer] = "demo page"
    names.update(await s.keys.names(p for p in producers if p not in names))
    return names


class NotificationsController(Controller):
    path = "/notifications"

    @get("/")
    async def page(self, request: Request, before: int | None = None) -> Response[str]:
        rows = await recent(services(request), before=before)
        older = rows[-1].created_at if len(rows) == PAGE else None
        return render(request, "notifications.html", title="Notifications", rows=rows, older=older,
                      live=before is None)

    @get("/rows")
    async def rows(self, request: Request) -> Response[str]:
        """The newest rows, polled by the page every 2 seconds."""
        return render(request, "_notification_rows.html", rows=await recent(services(request)))

    @get("/{notification_id:str}")
    async def detail(self, request: Request, notification_id: str, sent: int = 0) -> Response[str]:
        s = services(request)
        found = await one(s, notification_id)
        if found is None:
            raise not_found("No such notification.")
        delivery, row = found
        return render(request, "notification.html", title=row.title, d=delivery, n=row, sent=bool(sent),
                      readers=await readers(s.db, notification_id), users=(row.target or {}).get("users"),
                      channels=await channels(s.db, notification_id), channel_names=CHANNEL_NAMES)

    @post("/{notification_id:str}/edit")
    async def edit(self, request: Request, notification_id: str, admin: str) -> Response[str]:
        """Correct the title, body or link in every inbox it reached, silently (correction.py)."""
        s = services(request)
        form = await request.form()
        edit = check_edit(str(form.get("title", "")), str(form.get("body", "")), str(form.get("url", "")))
        before = await one(s, notification_id)
        updated = await s.corrections.edit(notification_id, edit)  # 404 if unknown or retracted
        changed = {name: getattr(edit, name) for name in ("title", "body", "url")
                   if before is None or getattr(before[1], name) != getattr(edit, name)}
        await record(s.db, admin, "notification.edit", notification_id, {"updated": updated, **changed})
        return redirect(f"/admin/notifications/{notification_id}")

    @post("/{notification_id:str}/retract")
    async def retract(self, request: Request, notification_id: str, admin: str) -> Response[str]:
        """Take the notification back from every inbox, open list and shown notification."""
        s = services(request)
        removed = await s.retractions.by_notification(notification_id)  # 404 if unknown or retracted already
        await record(s.db, admin, "notification.retract", notification_id, {"removed": removed})
        return redirect(f"/admin/notifications/{notification_id}")

    @get("/{notification_id:str}/delivery")
    async def delivery(self, request: Request, notification_id: str) -> Response[str]:
        s = services(request)
        found = await one(s, notification_id)
        if found is None:
            raise not_found("No such notification.")
        return render(request, "_delivery.html", d=found[0], readers=await readers(s.db, notification_id),
                      channels=await channels(s.db, notification_id), channel_names=CHANNEL_NAMES)
