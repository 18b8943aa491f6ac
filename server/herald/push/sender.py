"""The push worker: one per provider, each draining that provider's rows of ``push_jobs``.

Each round leases due rows (moving ``next_attempt_at`` past the send timeout,
in one ``UPDATE ... RETURNING`` that two processes cannot both win), sends them
concurrently through the provider, then records every outcome in one transaction:

- delivered: row deleted; a device's success noted, and the item remembered
  for the cross-device read update and, on devices and browsers alike, for
  closing it if it is retracted (readstate.py);
- gone (404/410, ``UNREGISTERED``, ``Unregistered``): the subscription or
  device is deleted with its rows;
- retry (429, 5xx, timeouts, network errors): sent again after an exponential
  delay with jitter (at least ``Retry-After``), until ``push_max_attempts`` or the TTL;
- rejected or refused: dropped and counted, the reason kept on the device;
- not sent at all when the user read the item or a client acknowledged it
  since it was queued (a held push, service.py, is exactly that check), nor
  when the item is gone or past its expiry ("retracted": retracted, or
  expired, swept or not yet).

One worker per provider, so a push service that is down or slow delays only
its own pushes: Web Push does not wait on APNs' timeouts, nor the reverse.
A graceful stop hands leased rows back; a crash leaves them leased until the
lease runs out, then they are sent again (at-least-once).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.db import Database
from herald.metrics import Metrics
from herald.models import (
    device_pushes,
    devices,
    inbox_items,
    notifications,
    push_jobs,
    push_results,
    push_subscriptions,
    subscription_pushes,
)
from herald.push.provider import (
    DIGEST_ITEM,
    FAILED,
    READ_ITEM,
    RETRACT_ITEM,
    Device,
    Job,
    Outcome,
    Provider,
    Subscription,
)
from herald.settings import Settings
from herald.tasks import cancel, drain_queue, seconds_until
from herald.wire import now_ms

if TYPE_CHECKING:
    from herald.webhooks import Webhooks

log = logging.getLogger("herald.push")

BATCH = 100
IDLE_POLL_SECONDS = 5.0  # rows written by another process are found at least this often
NOT_AN_ITEM = frozenset({DIGEST_ITEM, READ_ITEM, RETRACT_ITEM})


class PushSender:
    def __init__(self, settings: Settings, db: Database, metrics: Metrics, provider: Provider,
                 webhooks: Webhooks | None = None) -> None:
        self.settings = settings
        self.webhooks = webhooks  # told of each push that failed for good (``push.failed``)
        self.db = db
        self.metrics = metrics
        self.provider = provider
        self.lease_ms = int((settings.push_timeout_seconds * 2 + 30) * 1000)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._leased: set[int] = set()

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        await self.provider.start()
        self._task = asyncio.create_task(self._run(), name=f"herald-push-{self.provider.name}")

    async def stop(self) -> None:
        await cancel([self._task])
        if self._leased:
            # Hand interrupted sends back now rather than after the lease: the next start retries them.
            with contextlib.suppress(Exception):
                async with self.db.write() as conn:
                    await conn.execute(update(push_jobs).where(push_jobs.c.id.in_(list(self._leased)))
                                       .values(next_attempt_at=now_ms()))
        await self.provider.stop()

    async def _run(self) -> None:
        await drain_queue(f"{self.provider.name} push", self.run_once, self._seconds_to_next_due, self._wake,
                          batch=BATCH, idle_seconds=IDLE_POLL_SECONDS)

    async def _seconds_to_next_due(self) -> float:
        async with self.db.read() as conn:
            due = (await conn.execute(select(push_jobs.c.next_attempt_at)
                                      .where(push_jobs.c.provider == self.provider.name)
                                      .order_by(push_jobs.c.next_attempt_at).limit(1))).scalar()
        return seconds_until(due, now_ms(), IDLE_POLL_SECONDS)

    async def run_once(self) -> int:
        """Lease, send and settle one batch of due pushes; returns how many were leased."""
        jobs = await self._lease()
        if not jobs:
            return 0
        settled = await self._already_settled(jobs)
        gate = asyncio.Semaphore(self.provider.concurrency)

        async def attempt(job: Job) -> Outcome:
            if (job.user_id, job.item_id) in settled:
                return Outcome(job, settled[job.user_id, job.item_id])  # type: ignore[arg-type]
            if job.expires_at <= now_ms():
                return Outcome(job, "expired")
            async with gate:
                started = time.perf_counter()
                outcome = await self.provider.send(job)
                self.metrics.push_request_seconds.labels(self.provider.name).observe(time.perf_counter() - started)
                return outcome

        outcomes = await asyncio.gather(*(attempt(job) for job in jobs))
        await self._settle(outcomes)
        self._leased.difference_update(job.id for job in jobs)
        return len(jobs)

    async def _lease(self) -> list[Job]:
        now = now_ms()
        due = (select(push_jobs.c.id).where(push_jobs.c.provider == self.provider.name,
                                            push_jobs.c.next_attempt_at <= now)
               .order_by(push_jobs.c.next_attempt_at).limit(BATCH))
        async with self.db.write() as conn:
            # The outer condition is re-checked on the locked row, so a concurrent worker that
            # leased it first makes this one skip it (PostgreSQL READ COMMITTED; SQLite has one writer).
            leased = (await conn.execute(
                update(push_jobs)
                .where(push_jobs.c.id.in_(due.scalar_subquery()), push_jobs.c.next_attempt_at <= now)
                .values(next_attempt_at=now + self.lease_ms, attempts=push_jobs.c.attempts + 1)
                .returning(push_jobs.c.id)
            )).scalars().all()
            if not leased:
                return []
            self._leased.update(leased)
            rows = await conn.execute(
                select(push_jobs, push_subscriptions.c.endpoint, push_subscriptions.c.p256dh,
                       push_subscriptions.c.auth, devices.c.platform, devices.c.token, devices.c.app)
                .outerjoin(push_subscriptions, push_subscriptions.c.id == push_jobs.c.subscription_id)
                .outerjoin(devices, devices.c.id == push_jobs.c.device_id)
                .where(push_jobs.c.id.in_(leased)))
            return [_job(row) for row in rows]

    async def _already_settled(self, jobs: list[Job]) -> dict[tuple[str, str], str]:
        """Items read ("read") or acknowledged by a client ("acked") since they were queued: a push would be noise.

        Items no longer in the inbox or past their expiry ("retracted") must not be shown at all.
        """
        wanted = {(job.user_id, job.item_id) for job in jobs if job.item_id not in NOT_AN_ITEM}
        if not wanted:
            return {}
        now = now_ms()
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(inbox_items.c.user_id, inbox_items.c.id, inbox_items.c.read, inbox_items.c.delivered_at,
                       notifications.c.expires_at)
                .outerjoin(notifications, notifications.c.id == inbox_items.c.notification_id)
                .where(inbox_items.c.id.in_(sorted({item for _, item in wanted}))))
            present: dict[tuple[str, str], str | None] = {}
            for row in rows:
                if (row.user_id, row.id) not in wanted:
                    continue
                present[row.user_id, row.id] = (
                    "retracted" if row.expires_at is not None and row.expires_at <= now
                    else "read" if row.read else "acked" if row.delivered_at is not None else None)
        settled = {pair: kind for pair, kind in present.items() if kind is not None}
        settled.update((pair, "retracted") for pair in wanted if pair not in present)
        return settled

    def backoff_ms(self, attempts: int, retry_after_seconds: float | None) -> int:
        """Exponential delay with "equal jitter": half fixed, half random, never below Retry-After."""
        ceiling = self.settings.push_retry_max_seconds
        delay = min(ceiling, self.settings.push_retry_base_seconds * 2 ** max(0, attempts - 1))
        delay = delay / 2 + random.uniform(0, delay / 2)
        if retry_after_seconds:
            delay = max(delay, min(ceiling, retry_after_seconds))
        return int(delay * 1000)

    async def _settle(self, outcomes: list[Outcome]) -> None:
        now = now_ms()
        settlement = Settlement()
        for outcome in outcomes:
            kind, job = outcome.kind, outcome.job
            if kind == "retry":
                if job.attempts >= self.settings.push_max_attempts:
                    kind = "gave_up"
                else:
                    due = now + self.backoff_ms(job.attempts, outcome.retry_after_seconds)
                    if due >= job.expires_at:
                        kind = "expired"
                    else:
                        settlement.retries.append((job.id, due))
            settlement.add(job, kind, outcome.reason, now)
            if kind in FAILED and job.item_id not in NOT_AN_ITEM:
                settlement.failures.append(Outcome(job, kind, reason=outcome.reason))  # type: ignore[arg-type]
        async with self.db.write() as conn:
            await settlement.write(conn, self.db)
        # Counted once written down, so a metric never runs ahead of the database.
        provider = self.provider.name
        for kind, count in settlement.counts.items():
            self.metrics.push_sent.labels(kind).inc(count)
            self.metrics.push_results.labels(provider, kind).inc(count)
        for created_at in settlement.delivered_created:
            self.metrics.push_delivery_seconds.labels(provider).observe(max(0, now - created_at) / 1000)
        if self.webhooks is not None:
            for outcome in settlement.failures:
                job = outcome.job
                self.webhooks.emit("push.failed", {"provider": provider, "result": outcome.kind,
                                                   "reason": outcome.reason}, user_id=job.user_id,
                                   item_id=job.item_id, notification_id=job.notification_id)


class Settlement:
    """The writes one round's outcomes add up to, made in one transaction."""

    def __init__(self) -> None:
        self.finished: list[int] = []
        self.retries: list[tuple[int, int]] = []
        self.gone_subscriptions: list[str] = []
        self.gone_devices: list[str] = []
        self.device_news: dict[str, dict[str, object]] = {}
        self.pushed_items: list[dict[str, object]] = []
        self.pushed_browsers: list[dict[str, object]] = []
        self.results: dict[tuple[str, str], list[int]] = {}
        self.counts: dict[str, int] = {}
        self.delivered_created: list[int] = []
        self.failures: list[Outcome] = []  # pushes of inbox items that failed for good, for webhooks

    def add(self, job: Job, kind: str, reason: str | None, now: int) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        is_device = isinstance(job.target, Device)
        if kind == "gone":
            (self.gone_devices if is_device else self.gone_subscriptions).append(job.target_id)
        elif kind != "retry":
            self.finished.append(job.id)
        if kind == "delivered":
            self.delivered_created.append(job.created_at)
        if job.notification_id and (kind == "delivered" or kind in FAILED):
            counts = self.results.setdefault((job.notification_id, job.provider), [0, 0])
            counts[0 if kind == "delivered" else 1] += 1
        if not is_device and kind == "delivered" and job.item_id not in NOT_AN_ITEM:
            self.pushed_browsers.append({"subscription_id": job.target_id, "user_id": job.user_id,
                                         "item_id": job.item_id, "at": now})
        if not is_device or kind in ("read", "acked", "gone"):
            return
        if kind == "delivered":
            self.device_news[job.target_id] = {"last_success_at": now}
            if job.item_id not in NOT_AN_ITEM:
                self.pushed_items.append({"device_id": job.target_id, "user_id": job.user_id,
                                          "item_id": job.item_id, "at": now})
        else:
            detail = f"{kind}: {reason}" if reason else kind
            self.device_news[job.target_id] = {"last_error": detail[:200], "last_error_at": now}

    async def write(self, conn: AsyncConnection, db: Database) -> None:
        if self.gone_subscriptions:
            await conn.execute(delete(push_subscriptions).where(push_subscriptions.c.id.in_(self.gone_subscriptions)))
        if self.gone_devices:
            await conn.execute(delete(devices).where(devices.c.id.in_(self.gone_devices)))
        if self.finished:
            await conn.execute(delete(push_jobs).where(push_jobs.c.id.in_(self.finished)))
        for job_id, due in self.retries:
            await conn.execute(update(push_jobs).where(push_jobs.c.id == job_id).values(next_attempt_at=due))
        for device_id, values in self.device_news.items():
            await conn.execute(update(devices).where(devices.c.id == device_id).values(**values))
        if self.pushed_items:
            await conn.execute(db.insert(device_pushes).on_conflict_do_nothing(), self.pushed_items)
        if self.pushed_browsers:
            await conn.execute(db.insert(subscription_pushes).on_conflict_do_nothing(), self.pushed_browsers)
        for (notification_id, provider), (delivered, failed) in self.results.items():
            stmt = db.insert(push_results).values(notification_id=notification_id, provider=provider,
                                                  delivered=delivered, failed=failed)
            await conn.execute(stmt.on_conflict_do_update(
                index_elements=[push_results.c.notification_id, push_results.c.provider],
                set_={"delivered": push_results.c.delivered + delivered, "failed": push_results.c.failed + failed}))


def _job(r: Row[Any]) -> Job:
    """A leased row of the lease's select: the job and, from the outer joins, its one target."""
    target: Subscription | Device
    if r.device_id:
        target = Device(r.platform, r.token, r.app)
    else:
        target = Subscription(r.endpoint, r.p256dh, r.auth)
    return Job(r.id, r.provider, r.device_id or r.subscription_id, r.user_id, r.item_id, r.notification_id,
               r.payload, r.urgency, r.topic, r.attempts, r.created_at, r.expires_at, target)
