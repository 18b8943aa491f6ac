"""Emitting webhook events: noted in memory by the operation, queued in the database a moment later.

``emit`` is called after the triggering change committed (a receipt, a read, a push that
failed for good) and never waits or raises: when no enabled endpoint wants the event type it
returns at once; otherwise it appends to a buffer that a background task writes every
``flush_seconds``, one transaction per burst. The write finds each event's producer (from
its notification, or its inbox item's notification), fans it out to that producer's
endpoints that want the type, one ``webhook_deliveries`` row each, and wakes the sender.

What a crash loses: the events of the last ``flush_seconds`` (a buffer, like receipts.py's).
Once a row is written the event survives restarts and is sent at least once. A database
that fails keeps the buffer for the next round, up to ``MAX_PENDING`` events; beyond that
events are dropped, logged and counted (``herald_webhook_emit_errors``).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

import msgspec
from sqlalchemy import select

from herald.db import Database
from herald.metrics import Metrics
from herald.models import inbox_items, notifications, webhook_deliveries, webhook_endpoints
from herald.tasks import cancel, wait_event
from herald.webhooks.endpoints import EndpointStore
from herald.wire import new_id, now_ms

log = logging.getLogger("herald.webhooks")

MAX_PENDING = 50_000
REFRESH_SECONDS = 5.0  # how soon an endpoint changed on another node is heard here
RETRY_SECONDS = 2.0


@dataclass(frozen=True)
class Event:
    type: str
    data: dict[str, Any]
    at: int
    producer: str | None = None
    notification_id: str | None = None
    user_id: str | None = None
    item_id: str | None = None


def iso_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Emitter:
    def __init__(self, db: Database, metrics: Metrics, store: EndpointStore, wake_sender: Callable[[], None],
                 flush_seconds: float = 0.1) -> None:
        self.db = db
        self.metrics = metrics
        self.store = store
        self.wake_sender = wake_sender
        self.flush_seconds = flush_seconds
        self._pending: list[Event] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._dropping = False

    def wants(self, event_type: str) -> bool:
        return self.store.wanted(event_type)

    def emit(self, event_type: str, data: dict[str, Any] | None = None, *, producer: str | None = None,
             notification_id: str | None = None, user_id: str | None = None, item_id: str | None = None) -> None:
        """Queue one event for the endpoints of its producer (named, or found from the notification or item)."""
        if not self.store.wanted(event_type):
            return
        if len(self._pending) >= MAX_PENDING:
            self.metrics.webhook_emit_errors.inc()
            if not self._dropping:
                log.warning("dropping webhook events: %d wait for the database already", MAX_PENDING)
                self._dropping = True
            return
        self._pending.append(Event(event_type, dict(data or {}), now_ms(), producer, notification_id, user_id,
                                   item_id))
        self._wake.set()

    async def start(self) -> None:
        with contextlib.suppress(Exception):  # the loop refreshes again; emitting waits for the first answer
            await self.store.refresh()
        self._task = asyncio.create_task(self._run(), name="herald-webhooks-emit")

    async def stop(self) -> None:
        await cancel([self._task])
        with contextlib.suppress(Exception):  # best effort: the database may be gone already
            await self.flush()

    async def _run(self) -> None:
        refreshed = time.monotonic()
        while True:
            await wait_event(self._wake, REFRESH_SECONDS)
            await asyncio.sleep(self.flush_seconds)  # let one burst (a page of acks) share a transaction
            self._wake.clear()
            try:
                if time.monotonic() - refreshed >= REFRESH_SECONDS:
                    await self.store.refresh()
                    refreshed = time.monotonic()
                await self.flush()
            except Exception:  # noqa: BLE001 - the events are kept for the next round
                log.exception("queueing webhook events failed")
                self._wake.set()
                await asyncio.sleep(RETRY_SECONDS)

    async def flush(self) -> None:
        if not self._pending:
            return
        events, self._pending = self._pending, []
        self._dropping = False
        try:
            written = await self._write(events)
        except Exception:
            kept = events[:max(0, MAX_PENDING - len(self._pending))]
            self.metrics.webhook_emit_errors.inc(len(events) - len(kept))
            self._pending[:0] = kept
            raise
        if written:
            self.wake_sender()

    async def queue_for(self, endpoint_id: str, event_type: str, data: dict[str, Any]) -> bool:
        """Queue one event for one endpoint now, whatever it subscribed to (a test event); False if it does not exist."""
        now = now_ms()
        body = msgspec.json.encode({"type": event_type, "timestamp": iso_time(now), "data": data}).decode()
        async with self.db.write() as conn:
            exists = (await conn.execute(select(webhook_endpoints.c.id).where(
                webhook_endpoints.c.id == endpoint_id))).first()
            if exists is None:
                return False
            await conn.execute(webhook_deliveries.insert().values(
                id="msg_" + new_id(), endpoint_id=endpoint_id, type=event_type, body=body, status="pending",
                attempts=0, created_at=now, next_attempt_at=now))
        self.metrics.webhook_events.labels(event_type).inc()
        return True

    async def _write(self, events: list[Event]) -> int:
        async with self.db.write() as conn:
            items = {e.item_id for e in events if e.producer is None and e.notification_id is None and e.item_id}
            of_item: dict[tuple[str, str], str] = {}
            if items:
                rows = await conn.execute(select(inbox_items.c.user_id, inbox_items.c.id, inbox_items.c.notification_id)
                                          .where(inbox_items.c.id.in_(sorted(items))))
                of_item = {(r.user_id, r.id): r.notification_id for r in rows}
            resolved = [(e, e.notification_id or of_item.get((e.user_id or "", e.item_id or ""))) for e in events]
            wanted = sorted({n for e, n in resolved if e.producer is None and n})
            producers: dict[str, str] = {}
            if wanted:
                producers = dict((await conn.execute(select(notifications.c.id, notifications.c.producer)
                                                     .where(notifications.c.id.in_(wanted)))).all())
            endpoints: dict[str, list[tuple[str, list[str]]]] = {}
            for endpoint_id, producer, types in await conn.execute(
                    select(webhook_endpoints.c.id, webhook_endpoints.c.producer, webhook_endpoints.c.events)
                    .where(webhook_endpoints.c.enabled.is_(True))):
                endpoints.setdefault(producer, []).append((endpoint_id, types))
            now = now_ms()
            rows_out: list[dict[str, Any]] = []
            for event, notification_id in resolved:
                producer = event.producer or (producers.get(notification_id) if notification_id else None)
                targets = [endpoint_id for endpoint_id, types in endpoints.get(producer or "", ()) if event.type in types]
                if not targets:
                    continue
                data = {**({"notificationId": notification_id} if notification_id else {}),
                        **({"userId": event.user_id} if event.user_id else {}),
                        **({"itemId": event.item_id} if event.item_id else {}), **event.data}
                body = msgspec.json.encode({"type": event.type, "timestamp": iso_time(event.at), "data": data}).decode()
                for endpoint_id in targets:
                    rows_out.append({"id": "msg_" + new_id(), "endpoint_id": endpoint_id, "type": event.type,
                                     "body": body, "status": "pending", "attempts": 0, "created_at": now,
                                     "next_attempt_at": now})
            if rows_out:
                await conn.execute(webhook_deliveries.insert(), rows_out)
        for row in rows_out:
            self.metrics.webhook_events.labels(row["type"]).inc()
        return len(rows_out)
