"""The webhook sender: claims due deliveries, POSTs them signed, records each attempt, retries with backoff.

One round: claim up to ``BATCH`` due rows of enabled endpoints (``SELECT ... FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so two nodes never claim the same row; SQLite has one writer), move
their ``next_attempt_at`` past the request timeout (the lease) and count the attempt, commit;
send them concurrently; then write every outcome in one transaction:

- a 2xx answer: delivered;
- any other answer (3xx included: redirects are never followed), a timeout or a connection
  error: retried after ``backoff_seconds`` (exponential, half of it random), until
  ``webhook_max_attempts``, then failed;
- an address Herald may not contact (checked again here, since the settings and DNS may have
  changed since the endpoint was added; ``SafeResolver`` drops private answers): failed at
  once, without connecting.

At-least-once: a node that dies mid-send leaves its rows leased; after the lease they are sent
again, with the same ``webhook-id``, which is what a receiver dedupes on. A graceful stop hands
its leased rows back at once.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from sqlalchemy import delete, select, update

from herald.db import Database
from herald.errors import HeraldError
from herald.metrics import Metrics
from herald.models import webhook_attempts, webhook_deliveries, webhook_endpoints
from herald.push.endpoint import SafeResolver, check_url, is_refusal
from herald.settings import Settings
from herald.tasks import cancel, drain_queue, seconds_until
from herald.webhooks.signing import signed_headers
from herald.wire import now_ms

log = logging.getLogger("herald.webhooks")

BATCH = 50
CONCURRENCY = 16
IDLE_POLL_SECONDS = 5.0  # rows queued by another node are found at least this often
PRUNE_EVERY_SECONDS = 600.0


def backoff_seconds(attempts: int, base: float, ceiling: float, rand: float | None = None) -> float:
    """Delay after the ``attempts``-th failed attempt: base * 2^(attempts-1), capped, with "equal jitter"."""
    delay = min(ceiling, base * 2 ** max(0, attempts - 1))
    return delay / 2 + (random.random() if rand is None else rand) * delay / 2


@dataclass(frozen=True)
class Claim:
    id: str
    endpoint_id: str
    type: str
    body: str
    attempts: int  # including this one
    url: str
    secret: str


@dataclass(frozen=True)
class Result:
    claim: Claim
    outcome: str  # delivered, retry, refused
    status_code: int | None
    error: str | None
    latency_ms: int


class WebhookSender:
    def __init__(self, settings: Settings, db: Database, metrics: Metrics) -> None:
        self.settings = settings
        self.db = db
        self.metrics = metrics
        self.lease_ms = int((settings.webhook_timeout_seconds * 2 + 30) * 1000)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._leased: set[str] = set()
        self._pruned = 0.0

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._session = self.new_session()
        self._task = asyncio.create_task(self._run(), name="herald-webhooks-send")

    def new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(resolver=SafeResolver(allow_loopback=not self.settings.is_production),
                                         limit=CONCURRENCY)
        # trust_env stays off: an HTTP(S)_PROXY from the environment must not route around the checks.
        return aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=self.settings.webhook_timeout_seconds))

    async def stop(self) -> None:
        await cancel([self._task])
        if self._leased:
            with contextlib.suppress(Exception):  # the lease runs out anyway; this only makes it sooner
                async with self.db.write() as conn:
                    await conn.execute(update(webhook_deliveries).where(webhook_deliveries.c.id.in_(
                        sorted(self._leased))).values(next_attempt_at=now_ms()))
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        await drain_queue("webhook", self._round, self._seconds_to_next_due, self._wake,
                          batch=BATCH, idle_seconds=IDLE_POLL_SECONDS)

    async def _round(self) -> int:
        claimed = await self.run_once()
        if time.monotonic() - self._pruned >= PRUNE_EVERY_SECONDS:
            await self.prune()
        return claimed

    async def _seconds_to_next_due(self) -> float:
        d, e = webhook_deliveries.c, webhook_endpoints.c
        async with self.db.read() as conn:
            # Only enabled endpoints' rows: a disabled one's pending rows are due but must not spin this loop.
            due = (await conn.execute(select(d.next_attempt_at).join(webhook_endpoints, e.id == d.endpoint_id)
                                      .where(d.status == "pending", e.enabled.is_(True))
                                      .order_by(d.next_attempt_at).limit(1))).scalar()
        return seconds_until(due, now_ms(), IDLE_POLL_SECONDS)

    async def run_once(self) -> int:
        """Claim, send and settle one batch; returns how many were claimed."""
        claims = await self._claim()
        if not claims:
            return 0
        gate = asyncio.Semaphore(CONCURRENCY)

        async def attempt(claim: Claim) -> Result:
            async with gate:
                return await self.send(claim)

        results = await asyncio.gather(*(attempt(claim) for claim in claims))
        await self._settle(results)
        self._leased.difference_update(claim.id for claim in claims)
        return len(claims)

    async def _claim(self) -> list[Claim]:
        d, e = webhook_deliveries.c, webhook_endpoints.c
        now = now_ms()
        async with self.db.write() as conn:
            rows = (await conn.execute(
                select(d.id, d.endpoint_id, d.type, d.body, d.attempts, e.url, e.secret)
                .join(webhook_endpoints, e.id == d.endpoint_id)
                .where(d.status == "pending", d.next_attempt_at <= now, e.enabled.is_(True))
                .order_by(d.next_attempt_at).limit(BATCH)
                .with_for_update(of=webhook_deliveries, skip_locked=True))).all()
            if not rows:
                return []
            await conn.execute(update(webhook_deliveries).where(d.id.in_([r.id for r in rows]))
                               .values(next_attempt_at=now + self.lease_ms, attempts=d.attempts + 1))
        self._leased.update(r.id for r in rows)
        return [Claim(r.id, r.endpoint_id, r.type, r.body, r.attempts + 1, r.url, r.secret) for r in rows]

    async def send(self, claim: Claim) -> Result:
        assert self._session is not None
        started = time.perf_counter()

        def result(outcome: str, status: int | None = None, error: str | None = None) -> Result:
            return Result(claim, outcome, status, error, int((time.perf_counter() - started) * 1000))

        try:
            check_url(claim.url, production=self.settings.is_production, field="url")
        except HeraldError as exc:
            log.warning("webhook endpoint %s no longer allowed: %s", claim.endpoint_id, exc.message)
            return result("refused", error="address not allowed: " + exc.message)
        body = claim.body.encode()
        headers = signed_headers(claim.secret, claim.id, int(time.time()), body)
        try:
            async with self._session.post(claim.url, data=body, headers=headers, allow_redirects=False) as response:
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            if is_refusal(exc):
                log.warning("webhook endpoint %s resolves to an address Herald never contacts", claim.endpoint_id)
                return result("refused", error="address not allowed")
            return result("retry", error=type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}")
        return result("delivered" if 200 <= status < 300 else "retry", status)

    async def _settle(self, results: list[Result]) -> None:
        now = now_ms()
        s = self.settings
        attempts: list[dict[str, Any]] = []
        counts: dict[str, int] = {}
        async with self.db.write() as conn:
            for r in results:
                outcome = r.outcome
                if outcome == "retry" and r.claim.attempts >= s.webhook_max_attempts:
                    outcome = "failed"
                if outcome == "retry":
                    due = now + int(backoff_seconds(r.claim.attempts, s.webhook_retry_base_seconds,
                                                    s.webhook_retry_max_seconds) * 1000)
                    values: dict[str, Any] = {"next_attempt_at": due}
                else:
                    values = {"status": "delivered" if outcome == "delivered" else "failed"}
                await conn.execute(update(webhook_deliveries).where(webhook_deliveries.c.id == r.claim.id)
                                   .values(**values))
                attempts.append({"delivery_id": r.claim.id, "endpoint_id": r.claim.endpoint_id, "at": now,
                                 "status_code": r.status_code, "error": (r.error or None) and r.error[:200],
                                 "latency_ms": r.latency_ms})
                counts[outcome] = counts.get(outcome, 0) + 1
            await conn.execute(webhook_attempts.insert(), attempts)
        for outcome, count in counts.items():
            self.metrics.webhook_attempts.labels(outcome).inc(count)

    async def prune(self) -> None:
        """Forget finished events (and every attempt) older than ``webhook_keep_seconds``."""
        self._pruned = time.monotonic()
        cutoff = now_ms() - self.settings.webhook_keep_seconds * 1000
        async with self.db.write() as conn:
            await conn.execute(delete(webhook_attempts).where(webhook_attempts.c.at < cutoff))
            await conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.status != "pending",
                                                                webhook_deliveries.c.created_at < cutoff))
