"""The objects one Herald app is made of, wired together once from the settings.

The composition root: each object gets its collaborators here, at construction.
It is the one domain-side module that knows the admin console, which it
reaches only by plugging the console's delivery counts into the publisher as
its recorder.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from dataclasses import dataclass, field

from herald.admin.services import AdminServices
from herald.admission import Admission
from herald.api_keys import KeyStore
from herald.audience import Audience
from herald.consume import Consumer, build_consumers
from herald.db import Database
from herald.delivery.gateway import Gateway
from herald.fanout.base import Fanout
from herald.fanout.memory import InProcessFanout
from herald.inbox import Inbox
from herald.metrics import Metrics
from herald.preferences import Preferences
from herald.presence import Visibility
from herald.publish import Publisher
from herald.push.service import PushService
from herald.ratelimit import Limit, RateLimiter, build_limiter
from herald.receipts import Receipts
from herald.retention import Retention
from herald.broadcasts import Broadcasts
from herald.correction import Corrections
from herald.retraction import Retractions
from herald.triage import Triage
from herald.schedule import Scheduler
from herald.settings import Settings
from herald.tasks import cancel
from herald.tokens import TokenSigner
from herald.webhooks import Webhooks

log = logging.getLogger("herald")
KEY_USE_FLUSH_SECONDS = 1.0


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
    keys: KeyStore
    admin: AdminServices
    receipts: Receipts
    limiter: RateLimiter
    admission: Admission
    retention: Retention
    scheduler: Scheduler
    webhooks: Webhooks
    retractions: Retractions
    corrections: Corrections
    preferences: Preferences
    triage: Triage
    broadcasts: Broadcasts
    consumers: list[Consumer] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings) -> "Services":
        db = Database(settings.effective_database_url)
        metrics = Metrics()
        fanout = _fanout(settings, metrics)
        limiter = build_limiter(settings.redis_url, metrics)
        inbox = Inbox(db, settings.group_window_seconds)
        broadcasts = Broadcasts(db, inbox)
        audience = Audience(db, fanout)
        webhooks = Webhooks(settings, db, metrics)  # told of receipts, reads and failed pushes after they commit
        # Pushes (Web Push, FCM, APNs) go to users the fan-out cannot reach; the publisher hands them over
        # after each commit, and each read, so that phones drop what was read elsewhere.
        push = PushService(settings, db, inbox, fanout, metrics, limiter=limiter, webhooks=webhooks)
        admin = AdminServices(db, fanout, metrics)
        publisher = Publisher(
            db, inbox, audience, fanout, metrics, settings.idempotency_seconds, push=push, recorder=admin.deliveries,
            limiter=limiter, publish_limit=Limit("publish", settings.publish_rate_per_second, settings.publish_burst),
            recipient_limit=Limit("recipient_live", settings.recipient_live_per_minute / 60,
                                  settings.recipient_live_per_minute), webhooks=webhooks)
        if settings.broadcast_fanout == "read":
            publisher.broadcasts = broadcasts  # else every publish writes per recipient, as before issue 22
        # Each publish asks the recipients' preferences and presence which alerts and pushes it may raise;
        # the digest at the end of quiet hours goes out through the push service.
        preferences = publisher.preferences = Preferences(
            db, Visibility(fanout, settings.presence_ttl_seconds, settings.redis_url or None),
            sweep_seconds=settings.quiet_sweep_seconds)
        preferences.send_digest = push.digest
        # A publish with sendAt waits in the scheduler, whichever way it came (API, admin, a log consumer).
        scheduler = publisher.scheduler = Scheduler(db, publisher, metrics, poll_seconds=settings.schedule_poll_seconds)
        consumers = build_consumers(settings, publisher, db, metrics)  # empty unless a log source is configured
        built = cls(
            consumers=consumers, preferences=preferences,
            settings=settings, db=db, fanout=fanout, metrics=metrics, signer=TokenSigner(settings.secret),
            inbox=inbox, audience=audience, keys=KeyStore(db, settings.api_keys),
            publisher=publisher, scheduler=scheduler, push=push, admin=admin,
            receipts=Receipts(db, metrics, webhooks=webhooks), webhooks=webhooks,
            limiter=limiter,
            admission=Admission(settings, limiter, metrics),
            retractions=Retractions(db, inbox, audience, publisher, metrics,
                                    sweep_interval_seconds=settings.expiry_sweep_seconds),
            corrections=Corrections(db, inbox, publisher),
            # Snoozed items come back on the expiry sweep's beat: both are "at this time, tell the lists".
            triage=Triage(db, inbox, publisher, metrics, webhooks, sweep_interval_seconds=settings.expiry_sweep_seconds),
            retention=Retention(inbox, publisher, metrics, retention_seconds=settings.retention_seconds,
                                interval_seconds=settings.prune_interval_seconds, push=push),
            gateway=Gateway(inbox, fanout, metrics, heartbeat_seconds=settings.heartbeat_seconds,
                            retry_milliseconds=settings.retry_milliseconds,
                            queue_limit=settings.connection_queue_limit, gap_fill_seconds=settings.gap_fill_seconds,
                            writes_per_second=settings.connection_writes_per_second,
                            connections_per_user=settings.connections_per_user,
                            catch_up=publisher.catch_up),
            broadcasts=broadcasts,
        )
        built.gateway.personalize = preferences  # a broadcast's live event, marked per recipient
        built.receipts.catch_up = publisher.catch_up  # a broadcast acked live is in the inbox before it is stamped
        return built

    async def start(self) -> None:
        await self.fanout.start()
        await self.gateway.start()
        self._tasks.append(asyncio.create_task(self.retention.run_forever(), name="herald-prune"))
        self._tasks.append(asyncio.create_task(self.retractions.run_forever(), name="herald-expire"))
        self._tasks.append(asyncio.create_task(self.triage.run_forever(), name="herald-snooze"))
        self._tasks.append(asyncio.create_task(self.metrics.sync_forever(), name="herald-metrics"))
        self._tasks.append(asyncio.create_task(self.preferences.run_forever(), name="herald-quiet-digests"))
        self._tasks.append(asyncio.create_task(self._flush_key_use_forever(), name="herald-key-use"))
        await self.webhooks.start()
        await self.push.start()
        await self.admin.start()
        await self.receipts.start()
        await self.scheduler.start()  # what fell due while this node was down goes out now
        for consumer in self.consumers:
            await consumer.start()
        # What exists now (modules, the app, engines) lives as long as the process: keep the
        # cyclic collector from walking it on every full collection, which under a big fan-out
        # (thousands of short-lived events) otherwise costs tens of milliseconds at a time.
        gc.freeze()

    async def stop(self) -> None:
        for consumer in self.consumers:  # first: a message being published still has the database and bus
            await consumer.stop()
        await self.scheduler.stop()
        await cancel(self._tasks)
        with contextlib.suppress(Exception):  # best effort: last-use times only, the database may be gone
            await self.keys.flush()
        await self.gateway.stop()
        await self.receipts.stop()
        await self.admin.stop()
        await self.push.stop()
        await self.webhooks.stop()  # after every part that emits
        await self.fanout.stop()
        await self.limiter.close()
        await self.preferences.visibility.close()
        await self.db.close()
        self.metrics.close()

    async def _flush_key_use_forever(self) -> None:
        """API keys' last use, written in the background so that publishing never waits on it."""
        while True:
            await asyncio.sleep(KEY_USE_FLUSH_SECONDS)
            try:
                await self.keys.flush()
            except Exception:  # noqa: BLE001 - statistics only; the next round writes what comes next
                log.exception("writing API key last use failed")


def _fanout(settings: Settings, metrics: Metrics) -> Fanout:
    if settings.redis_url:
        from herald.fanout.redis import RedisFanout  # redis-py's pub/sub machinery only when it is used

        return RedisFanout(settings.redis_url, metrics=metrics)
    return InProcessFanout()
