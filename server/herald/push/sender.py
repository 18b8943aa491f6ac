"""The push worker: drains ``push_jobs`` with pywebpush's asyncio API.

Each round leases due rows (moving ``next_attempt_at`` past the send timeout,
in one ``UPDATE ... RETURNING`` that two processes cannot both win), sends them
concurrently, then records every outcome in one transaction:

- 2xx: delivered, row deleted;
- 404/410: the subscription is gone, deleted with its rows;
- 429, 5xx, timeouts and network errors: retried after an exponential delay
  with jitter (at least ``Retry-After``), until ``push_max_attempts`` or the TTL;
- other 4xx, or an endpoint that is no longer allowed: dropped and counted;
- not sent at all when the user read the item or a client acknowledged it
  since it was queued (a held push, service.py, is exactly that check).

A graceful stop hands leased rows back; a crash leaves them leased until the
lease runs out, then they are sent again (at-least-once).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from typing import Any

import aiohttp
from pywebpush import WebPushException, webpush_async
from sqlalchemy import delete, or_, select, update

from herald.db import Database
from herald.errors import HeraldError
from herald.metrics import Metrics
from herald.models import inbox_items, push_jobs, push_subscriptions
from herald.push.endpoint import EndpointRefused, SafeResolver, check_endpoint, refuse_redirect
from herald.push.vapid import VapidKeys
from herald.settings import Settings
from herald.tasks import cancel, wait_event
from herald.wire import now_ms

log = logging.getLogger("herald.push")

BATCH = 100
CONCURRENCY = 16
IDLE_POLL_SECONDS = 5.0  # rows written by another process are found at least this often


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    subscription_id: str
    user_id: str
    item_id: str
    payload: str
    urgency: str
    topic: str | None
    attempts: int
    expires_at: int
    endpoint: str
    p256dh: str
    auth: str


@dataclass(frozen=True, slots=True)
class Outcome:
    job: Job
    kind: str  # delivered | retry | gone | rejected | refused | expired | gave_up | read | acked
    retry_after_seconds: float | None = None


class PushSender:
    def __init__(self, settings: Settings, db: Database, metrics: Metrics, keys: VapidKeys) -> None:
        self.settings = settings
        self.db = db
        self.metrics = metrics
        self.signer = keys.signer()
        self.lease_ms = int((settings.push_timeout_seconds * 2 + 30) * 1000)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._leased: set[int] = set()

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        trace = aiohttp.TraceConfig()
        trace.on_request_redirect.append(refuse_redirect)
        connector = aiohttp.TCPConnector(resolver=SafeResolver(allow_loopback=not self.settings.is_production),
                                         limit=CONCURRENCY)
        # trust_env stays off: an HTTP(S)_PROXY from the environment must not route around the checks.
        self._session = aiohttp.ClientSession(connector=connector, trace_configs=[trace],
                                              timeout=aiohttp.ClientTimeout(total=self.settings.push_timeout_seconds))
        self._task = asyncio.create_task(self._run(), name="herald-push")

    async def stop(self) -> None:
        await cancel([self._task])
        if self._leased:
            # Hand interrupted sends back now rather than after the lease: the next start retries them.
            with contextlib.suppress(Exception):
                async with self.db.write() as conn:
                    await conn.execute(update(push_jobs).where(push_jobs.c.id.in_(list(self._leased)))
                                       .values(next_attempt_at=now_ms()))
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            try:
                sent = await self.run_once()
            except Exception:  # noqa: BLE001 - the rows stay; the next round retries them
                log.exception("push round failed")
                sent = 0
            if sent >= BATCH:
                continue
            try:
                delay = await self._seconds_to_next_due()
            except Exception:  # noqa: BLE001 - the database is back soon; poll meanwhile
                delay = IDLE_POLL_SECONDS
            self._wake.clear()
            await wait_event(self._wake, delay)

    async def _seconds_to_next_due(self) -> float:
        async with self.db.read() as conn:
            due = (await conn.execute(select(push_jobs.c.next_attempt_at)
                                      .order_by(push_jobs.c.next_attempt_at).limit(1))).scalar()
        if due is None:
            return IDLE_POLL_SECONDS
        return min(IDLE_POLL_SECONDS, max(0.0, (due - now_ms()) / 1000))

    async def run_once(self) -> int:
        """Lease, send and settle one batch of due pushes; returns how many were leased."""
        jobs = await self._lease()
        if not jobs:
            return 0
        settled = await self._already_settled(jobs)
        gate = asyncio.Semaphore(CONCURRENCY)

        async def attempt(job: Job) -> Outcome:
            if (job.user_id, job.item_id) in settled:
                return Outcome(job, settled[job.user_id, job.item_id])
            async with gate:
                return await self._send(job)

        outcomes = await asyncio.gather(*(attempt(job) for job in jobs))
        await self._settle(outcomes)
        self._leased.difference_update(job.id for job in jobs)
        return len(jobs)

    async def _lease(self) -> list[Job]:
        now = now_ms()
        due = (select(push_jobs.c.id).where(push_jobs.c.next_attempt_at <= now)
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
                       push_subscriptions.c.auth)
                .join(push_subscriptions, push_subscriptions.c.id == push_jobs.c.subscription_id)
                .where(push_jobs.c.id.in_(leased)))
            return [Job(r.id, r.subscription_id, r.user_id, r.item_id, r.payload, r.urgency, r.topic, r.attempts,
                        r.expires_at, r.endpoint, r.p256dh, r.auth) for r in rows]

    async def _already_settled(self, jobs: list[Job]) -> dict[tuple[str, str], str]:
        """Items read ("read") or acknowledged by a client ("acked") since they were queued: a push would be noise."""
        wanted = {(job.user_id, job.item_id) for job in jobs}
        async with self.db.read() as conn:
            rows = await conn.execute(select(inbox_items.c.user_id, inbox_items.c.id, inbox_items.c.read).where(
                inbox_items.c.id.in_(sorted({item for _, item in wanted})),
                or_(inbox_items.c.read.is_(True), inbox_items.c.delivered_at.is_not(None))))
            return {(row.user_id, row.id): "read" if row.read else "acked"
                    for row in rows if (row.user_id, row.id) in wanted}

    async def _send(self, job: Job) -> Outcome:
        now = now_ms()
        if job.expires_at <= now:
            return Outcome(job, "expired")
        try:
            check_endpoint(job.endpoint, production=self.settings.is_production,
                           hosts=self.settings.push_endpoint_hosts)
        except HeraldError as exc:
            log.warning("push endpoint no longer allowed (%s); dropping the push", exc.message)
            return Outcome(job, "refused")
        headers: dict[str, Any] = {"Urgency": job.urgency}
        if job.topic:
            headers["Topic"] = job.topic
        try:
            await webpush_async(
                {"endpoint": job.endpoint, "keys": {"p256dh": job.p256dh, "auth": job.auth}},
                data=job.payload, vapid_private_key=self.signer,
                vapid_claims={"sub": self.settings.vapid_subject},  # fresh dict: pywebpush fills aud and exp in
                ttl=max(1, (job.expires_at - now) // 1000), headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.settings.push_timeout_seconds),  # type: ignore[arg-type]
                aiohttp_session=self._session)
        except WebPushException as exc:
            return self._classify(job, exc.response)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            if _is_refusal(exc):
                log.warning("push endpoint refused at send time: %s", exc)
                return Outcome(job, "refused")
            log.info("push to %s failed (%s); will retry", _origin(job.endpoint), exc)
            return Outcome(job, "retry")
        return Outcome(job, "delivered")

    def _classify(self, job: Job, response: Any) -> Outcome:
        status = getattr(response, "status", None)
        if status in (404, 410):
            return Outcome(job, "gone")
        if status == 429 or (status is not None and status >= 500):
            return Outcome(job, "retry", _retry_after(response))
        # No status: pywebpush refused before sending (unusable keys); trying again cannot help.
        log.warning("push service %s answered %s; dropping the push", _origin(job.endpoint), status)
        return Outcome(job, "rejected")

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
        finished: list[int] = []
        gone: list[str] = []
        retries: list[tuple[int, int]] = []
        counts: dict[str, int] = {}
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
                        retries.append((job.id, due))
            if kind == "gone":
                gone.append(job.subscription_id)
            elif kind != "retry":
                finished.append(job.id)
            counts[kind] = counts.get(kind, 0) + 1
        async with self.db.write() as conn:
            if gone:
                await conn.execute(delete(push_subscriptions).where(push_subscriptions.c.id.in_(gone)))
            if finished:
                await conn.execute(delete(push_jobs).where(push_jobs.c.id.in_(finished)))
            for job_id, due in retries:
                await conn.execute(update(push_jobs).where(push_jobs.c.id == job_id).values(next_attempt_at=due))
        # Counted once written down, so a metric never runs ahead of the database.
        for kind, count in counts.items():
            self.metrics.push_sent.labels(kind).inc(count)


def _retry_after(response: Any) -> float | None:
    value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from push services; the backoff is used instead


def _is_refusal(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, EndpointRefused) or isinstance(getattr(seen, "os_error", None), EndpointRefused):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _origin(endpoint: str) -> str:
    # Endpoints are capability URLs: log where they point, never the whole secret path.
    return endpoint.split("/", 3)[2] if endpoint.count("/") >= 2 else "?"
