"""The objects one Herald app is made of, wired together once from the settings."""
from __future__ import annotations

import asyncio
import gc
import logging
from dataclasses import dataclass, field

from herald.admin_services import AdminServices
from herald.admission import Admission
from herald.audience import Audience
from herald.consume import Consumer, build_consumers
from herald.db import Database
from herald.fanout import Fanout, InProcessFanout
from herald.gateway import Gateway
from herald.inbox import Inbox
from herald.metrics import Metrics
from herald.publish import Publisher
from herald.push import PushService
from herald.receipts import Receipts
from herald.ratelimit import Limit, RateLimiter, build_limiter
from herald.settings import Settings
from herald.tokens import TokenSigner
from herald.tasks import cancel
from herald.wire import now_ms

log = logging.getLogger("herald")


@dataclass
class Services:
    settings: Settings
    db: Database
    fanout: Fanout
    metrics: Metrics
    signer: TokenSigner
    inbox: Inbox
    audience: Audience
    publisher: Publisher
    gateway: Gateway
    push: PushService
    admin: AdminServices
    receipts: Receipts
    limiter: RateLimiter
    admission: Admission
    consumers: list[Consumer] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings) -> "Services":
        db = Database(settings.effective_database_url)
        metrics = Metrics()
        fanout = _fanout(settings, metrics)
        limiter = build_limiter(settings.redis_url, metrics)
        inbox = Inbox(db, settings.group_window_seconds)
        audience = Audience(db)
        publisher = Publisher(
            db, inbox, audience, fanout, metrics, settings.idempotency_seconds, limiter=limiter,
            publish_limit=Limit("publish", settings.publish_rate_per_second, settings.publish_burst),
            recipient_limit=Limit("recipient_live", settings.recipient_live_per_minute / 60,
                                  settings.recipient_live_per_minute))
        # Pushes go to users the fan-out cannot reach; the publisher hands them over after each commit.
        publisher.push = push = PushService(settings, db, inbox, fanout, metrics, limiter=limiter)
        admin = AdminServices(db, fanout, metrics)
        publisher.delivery_log = admin.deliveries
        consumers = build_consumers(settings, publisher, db, metrics)  # empty unless a log source is configured
        return cls(
            consumers=consumers, settings=settings, db=db, fanout=fanout, metrics=metrics, signer=TokenSigner(settings.secret),
            inbox=inbox, audience=audience,
            publisher=publisher, push=push, admin=admin, receipts=Receipts(db, metrics),
            limiter=limiter,
            admission=Admission(settings, limiter, metrics),
            gateway=Gateway(inbox, fanout, metrics, heartbeat_seconds=settings.heartbeat_seconds,
                            retry_milliseconds=settings.retry_milliseconds,
                            queue_limit=settings.connection_queue_limit, gap_fill_seconds=settings.gap_fill_seconds,
                            writes_per_second=settings.connection_writes_per_second,
                            connections_per_user=settings.connections_per_user),
        )

    async def start(self) -> None:
        await self.fanout.start()
        await self.gateway.start()
        self._tasks.append(asyncio.create_task(self._prune_forever(), name="herald-prune"))
        self._tasks.append(asyncio.create_task(self.metrics.sync_forever(), name="herald-metrics"))
        await self.push.start()
        await self.admin.start()
        await self.receipts.start()
        for consumer in self.consumers:
            await consumer.start()
        # What exists now (modules, the app, engines) lives as long as the process: keep the
        # cyclic collector from walking it on every full collection, which under a big fan-out
        # (thousands of short-lived events) otherwise costs tens of milliseconds at a time.
        gc.freeze()

    async def stop(self) -> None:
        for consumer in self.consumers:  # first: a message being published still has the database and bus
            await consumer.stop()
        await cancel(self._tasks)
        await self.gateway.stop()
        await self.receipts.stop()
        await self.admin.stop()
        await self.push.stop()
        await self.fanout.stop()
        await self.limiter.close()
        await self.db.close()
        self.metrics.close()

    async def prune_once(self) -> int:
        removed = await self.inbox.prune(now_ms() - self.settings.retention_seconds * 1000)
        await self.publisher.prune_keys()
        self.metrics.pruned.inc(removed)
        return removed

    async def _prune_forever(self) -> None:
        while True:
            try:
                await self.prune_once()
            except Exception:  # noqa: BLE001 - retried next round; a failed prune only delays deletion
                self.metrics.database_errors.labels("prune").inc()
                log.exception("retention prune failed")
            await asyncio.sleep(self.settings.prune_interval_seconds)


def _fanout(settings: Settings, metrics: Metrics) -> Fanout:
    if settings.redis_url:
        from herald.fanout_redis import RedisFanout

        return RedisFanout(settings.redis_url, metrics=metrics)
    return InProcessFanout()
