"""Webhook endpoints: the URLs a producer's backend is told at, per API key, and what each was last told.

An endpoint belongs to one producer (an API key's fingerprint, the name every notification
carries), lists the event types it wants, and has its own signing secret, returned once at
creation (the admin shows it once). The URL is checked like a push endpoint
(push/endpoint.py ``check_url``) when it is added, and again before every send.

``wanted`` answers from memory whether any enabled endpoint wants an event type, so that
emitting costs nothing when no one listens; it is refreshed from the database every few
seconds (an endpoint added on another node is heard within that time) and at once here.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, desc, func, select, update

from herald.db import Database
from herald.errors import invalid_request
from herald.models import webhook_attempts, webhook_deliveries, webhook_endpoints
from herald.push.endpoint import check_url
from herald.webhooks.signing import new_secret
from herald.wire import new_id, now_ms

# ``action`` and ``archived`` are emitted by the features that make them (inbox triage);
# ``clicked`` is not listed: no client reports clicks today (a click marks the item read: ``read``).
EVENTS = ("delivered", "read", "clicked", "push.failed", "action", "archived")
MAX_ENDPOINTS_PER_PRODUCER = 10
RECENT_ATTEMPTS = 20


@dataclass(frozen=True)
class Endpoint:
    id: str
    producer: str
    url: str
    events: tuple[str, ...]
    enabled: bool
    created_by: str
    created_at: int


@dataclass(frozen=True)
class Attempt:
    delivery_id: str
    type: str
    at: int
    status_code: int | None
    error: str | None
    latency_ms: int
    status: str  # of the delivery now: pending (to be retried), delivered, failed


_COLUMNS = (webhook_endpoints.c.id, webhook_endpoints.c.producer, webhook_endpoints.c.url, webhook_endpoints.c.events,
            webhook_endpoints.c.enabled, webhook_endpoints.c.created_by, webhook_endpoints.c.created_at)


class EndpointStore:
    def __init__(self, db: Database, production: bool) -> None:
        self.db = db
        self.production = production
        self._wanted: frozenset[str] = frozenset()

    def check_url(self, url: str) -> None:
        """A 400 unless Herald may POST to ``url`` (no private or metadata address; loopback in development only)."""
        check_url(url, production=self.production, field="url")

    def wanted(self, event_type: str) -> bool:
        return event_type in self._wanted

    async def refresh(self) -> None:
        async with self.db.read() as conn:
            rows = await conn.execute(select(webhook_endpoints.c.events).where(webhook_endpoints.c.enabled.is_(True)))
            self._wanted = frozenset(event for (events,) in rows for event in events)

    async def create(self, producer: str, url: str, events: list[str], created_by: str) -> tuple[Endpoint, str]:
        """A new endpoint and its signing secret, which is returned here and shown once."""
        url = url.strip()
        self.check_url(url)
        unknown = sorted(set(events) - set(EVENTS))
        if unknown or not events:
            raise invalid_request(f'"events" must name one or more of {", ".join(EVENTS)}.')
        wanted = tuple(event for event in EVENTS if event in events)
        secret = new_secret()
        endpoint = Endpoint(new_id(), producer, url, wanted, True, created_by, now_ms())
        async with self.db.write() as conn:
            count = (await conn.execute(select(func.count()).select_from(webhook_endpoints).where(
                webhook_endpoints.c.producer == producer))).scalar() or 0
            if count >= MAX_ENDPOINTS_PER_PRODUCER:
                raise invalid_request(f"An API key may have at most {MAX_ENDPOINTS_PER_PRODUCER} webhook endpoints.")
            await conn.execute(webhook_endpoints.insert().values(
                id=endpoint.id, producer=producer, url=url, events=list(wanted), secret=secret, enabled=True,
                created_by=created_by, created_at=endpoint.created_at))
        await self.refresh()
        return endpoint, secret

    async def list(self) -> list[Endpoint]:
        async with self.db.read() as conn:
            rows = await conn.execute(select(*_COLUMNS).order_by(webhook_endpoints.c.created_at.desc()))
            return [Endpoint(r.id, r.producer, r.url, tuple(r.events), r.enabled, r.created_by, r.created_at)
                    for r in rows]

    async def get(self, endpoint_id: str) -> Endpoint | None:
        return next((e for e in await self.list() if e.id == endpoint_id), None)

    async def set_enabled(self, endpoint_id: str, enabled: bool) -> bool:
        """Disabled: nothing new is queued for it and its pending events wait; enabled again, they go out."""
        async with self.db.write() as conn:
            result = await conn.execute(update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
                                        .values(enabled=enabled))
        await self.refresh()
        return bool(result.rowcount)

    async def delete(self, endpoint_id: str) -> bool:
        """Gone with its queue and attempts (the foreign keys cascade)."""
        async with self.db.write() as conn:
            result = await conn.execute(delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id))
        await self.refresh()
        return bool(result.rowcount)

    async def recent_attempts(self, endpoint_id: str, limit: int = RECENT_ATTEMPTS) -> list[Attempt]:
        a, d = webhook_attempts.c, webhook_deliveries.c
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(a.delivery_id, d.type, a.at, a.status_code, a.error, a.latency_ms, d.status)
                .join(webhook_deliveries, d.id == a.delivery_id)
                .where(a.endpoint_id == endpoint_id).order_by(desc(a.at), desc(a.id)).limit(limit))
            return [Attempt(*row) for row in rows]

    async def pending(self, endpoint_id: str) -> int:
        async with self.db.read() as conn:
            return (await conn.execute(select(func.count()).select_from(webhook_deliveries).where(
                webhook_deliveries.c.endpoint_id == endpoint_id, webhook_deliveries.c.status == "pending"))).scalar() or 0
