"""Publishing: rate-limit, dedupe by idempotency key, expand the target, persist, then fan out.

Persist first: the 202 is sent only after the transaction that writes the
notification and every inbox item has committed. Fan-out comes after, and
failing it loses nothing (connections recover from the inbox).

Every change to an inbox goes out through here, new items (``publish``), read
state (``publish_read``) and retractions (``publish_changes``, after
retraction.py committed them) alike, so the rule "commit, then fan out" lives
in one place (``_announce``): what committed stands, a bus that fails is
logged and counted, and the caller gets its success answer.

Two limits apply here. Per producer (API key, or admin): beyond
``HERALD_PUBLISH_RATE_PER_SECOND`` a publish is refused with 429 before
anything is written. Per recipient: a user who gets more than
``HERALD_RECIPIENT_LIVE_PER_MINUTE`` new items still gets every one in the
inbox and on every live connection, but the excess goes out ``"quiet": true``
(the browser lists it without a toast and shows one digest toast for them;
push/service.py sends one digest push instead of one push each). Only new items count:
a group updated in place replaces its toast rather than adding one. Urgent
items count but are never made quiet.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Protocol, Sequence

import msgspec
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.audience import Audience
from herald.db import Database
from herald.errors import invalid_request, not_found, too_many_requests, unavailable
from herald.fanout.base import BusEvent, Fanout
from herald.idempotency import IdempotencyKeys
from herald.inbox import CHANGE_RANK, Inbox, InboxWrite
from herald.metrics import Metrics
from herald.preferences import category_of
from herald.models import inbox_items, notifications
from herald.ratelimit import Limit, MemoryRateLimiter, RateLimiter
from herald.recipient_limit import quiet_excess
from herald.wire import PRIORITY_RANK, LiveEvent, PublishRequest, PublishResponse, encoder, expiry_ms, new_id, now_ms

if TYPE_CHECKING:
    from herald.broadcasts import Broadcasts
    from herald.preferences import Preferences
    from herald.push.service import PushService
    from herald.webhooks import Webhooks

log = logging.getLogger("herald.publish")

NO_LIMIT = Limit("off", 0, 0)
NOTIFICATION_INSERT = notifications.insert()




class _ReadBody(msgspec.Struct):
    ids: list[str] = []
    all: bool = False


_read_body = msgspec.json.Decoder(_ReadBody).decode


class Recorder(Protocol):
    """Told of every persisted publish after its fan-out (the admin console's delivery counts)."""

    def record(self, notification_id: str, writes: Sequence[InboxWrite], pushes_queued: int) -> None: ...


class Scheduler(Protocol):
    """Keeps a publish with ``sendAt`` until its time (schedule.py); plugged in by services.py."""

    async def schedule(self, request: PublishRequest, producer: str) -> PublishResponse: ...


# Run first in the transaction of a scheduled publish: the request, its producer and its notification id,
# or None when the row is no longer pending (sent by another node, or cancelled).
Claim = Callable[[AsyncConnection], Awaitable["tuple[PublishRequest, str, str] | None"]]


class Publisher:
    scheduler: Scheduler | None = None
    preferences: Preferences | None = None  # per recipient: quiet hours, channels, presence (plugged in by services.py)
    broadcasts: Broadcasts | None = None  # fan-out on read for ``all`` (broadcasts.py); None: per recipient

    def __init__(self, db: Database, inbox: Inbox, audience: Audience, fanout: Fanout, metrics: Metrics,
                 idempotency_seconds: int, *, push: PushService | None = None, recorder: Recorder | None = None,
                 limiter: RateLimiter | None = None, publish_limit: Limit = NO_LIMIT,
                 recipient_limit: Limit = NO_LIMIT, webhooks: Webhooks | None = None) -> None:
        self.db = db
        self.inbox = inbox
        self.audience = audience
        self.fanout = fanout
        self.metrics = metrics
        self.idempotency_ms = idempotency_seconds * 1000
        self.keys = IdempotencyKeys(db, self.idempotency_ms)
        self.push = push  # pushes (Web Push, FCM, APNs) for recipients the fan-out cannot reach, and read sync
        self.recorder = recorder
        self.limiter = limiter or MemoryRateLimiter()
        self.publish_limit = publish_limit
        self.recipient_limit = recipient_limit
        self.webhooks = webhooks  # told of each item read (``read``)
        self._tasks: set[asyncio.Task[None]] = set()  # broadcasts' pushes, queued behind the 202

    async def publish(self, request: PublishRequest, producer: str) -> PublishResponse:
        await self.check_rate(producer)
        if request.send_at is not None:
            if self.scheduler is None:
                raise invalid_request('"sendAt" is not available here.')
            return await self.scheduler.schedule(request, producer)
        if not request.persist:
            return await self.publish_live(request)
        with self.metrics.publish_seconds.time():
            accepted = time.time()  # delivery latency runs from here to each frame's write
            key = request.idempotency_key
            try:
                response, deliveries = await self._persist(request, producer)
            except IntegrityError:
                # A concurrent publish with the same key committed first: answer as it did.
                earlier = await self.keys.earlier(producer, key) if key else None
                if earlier is None:
                    raise
                deliveries = None
                response = earlier
            if deliveries is None:  # the key's earlier answer
                self.metrics.idempotent_replays.inc()
                return response
            await self._committed(request, response, deliveries, accepted)
            return response

    async def publish_due(self, claim: Claim) -> PublishResponse | None:
        """A scheduled publish at its time (schedule.py); None when ``claim`` found it no longer pending.

        ``claim`` runs first in the transaction that writes the notification and marks its row sent there,
        so the two commit together: a crash before the commit leaves the row pending for any node, and no
        node can send it twice. No rate limit and no idempotency key: both were applied when it was scheduled.
        """
        accepted = time.time()
        with self.metrics.publish_seconds.time():
            async with self.db.write() as conn:
                claimed = await claim(conn)
                if claimed is None:
                    return None
                request, producer, notification_id = claimed
                response, deliveries = await self._persist(request, producer, notification_id, conn)
            assert deliveries is not None  # a scheduled request carries no idempotency key (schedule.py)
            # Silent and expiring publishes keep their rules when they were scheduled: ttlSeconds runs from now.
            await self._committed(request, response, deliveries, accepted)
            return response

    async def _committed(self, request: PublishRequest, response: PublishResponse, deliveries: list[InboxWrite],
                         accepted: float) -> None:
        """After the commit of a publish, now or at its scheduled time: count it, fan it out, record it."""
        self.metrics.publishes.labels(_target_kind(request)).inc()
        if deliveries and deliveries[0].kind == "broadcast":
            await self._broadcast(request, response, deliveries[0], accepted)
            return
        self.metrics.inbox_writes.inc(len(deliveries))
        pushes = await self._fan_out(deliveries, accepted, response.id, silent=request.silent,
                                     expires_at=expiry_ms(request, int(accepted * 1000)),
                                     category=category_of(request.category, request.type))
        if self.recorder is not None:
            self.recorder.record(response.id, deliveries, pushes)

    async def _broadcast(self, request: PublishRequest, response: PublishResponse, write: InboxWrite,
                         accepted: float) -> None:
        """One frame to every connection now; pushes for the audience's offline devices behind it, in a task."""
        # No delivery log entry (its counts stay "not recorded"): who was online is every connection, counted nowhere.
        await self._announce([BusEvent("broadcast", write.user_id, 0, write.rank, write.payload, accepted)])
        if self.push is None or request.silent:
            return
        expires_at = expiry_ms(request, int(accepted * 1000))
        category = category_of(request.category, request.type)
        task = asyncio.get_running_loop().create_task(self._push_broadcast(response.id, write, expires_at, category))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _push_broadcast(self, notification_id: str, write: InboxWrite, expires_at: int | None,
                              category: str) -> None:
        """Per device, as for any item (preferences, presence, quiet hours): only users who have a push target."""
        assert self.broadcasts is not None and self.push is not None
        try:
            users = await self.broadcasts.push_audience(notification_id)
            deliveries = [InboxWrite(user, 0, write.rank, write.payload, has_push=True) for user in users]
            allowed = None
            if self.preferences is not None and deliveries:
                applied = await self.preferences.apply(deliveries, category)
                deliveries, allowed = applied.deliveries, applied.allowed
            await self.push.enqueue(deliveries, notification_id, expires_at=expires_at, allowed=allowed)
        except Exception:  # noqa: BLE001 - the 202 stands: every inbox will have it, only the pushes are lost
            log.exception("queueing pushes for broadcast %s failed", notification_id)

    async def catch_up(self, user_ids: list[str]) -> None:
        """Copy the broadcasts these users have not taken into their inboxes, and tell their connections."""
        if self.broadcasts is not None:
            await self.announce(await self.broadcasts.catch_up(user_ids))

    async def publish_live(self, request: PublishRequest) -> PublishResponse:
        """A live channel event: straight to the bus, kept nowhere. 503 when the bus cannot take it."""
        assert request.to.channel is not None
        event = LiveEvent(new_id(), request.to.channel, request.type, request.title, request.body, request.priority,
                          now_ms(), request.url, request.data, request.avatar_url or msgspec.UNSET,
                          request.image_url or msgspec.UNSET)
        try:
            await self.fanout.publish([BusEvent("channel", event.channel, 0, PRIORITY_RANK[event.priority],
                                                encoder.encode(event), time.time())])
        except Exception as exc:  # noqa: BLE001 - nothing is stored: the producer must know it went nowhere
            log.warning("live event for %s not sent: %s", event.channel, exc)
            raise unavailable("The live bus is unavailable; the event was not sent.") from exc
        self.metrics.publishes.labels("channel").inc()
        return PublishResponse(event.id, None)

    async def check_rate(self, producer: str) -> None:
        """429 once this producer's key is past its publish rate; a retract counts against it too."""
        limit = self.publish_limit
        if not limit.enabled:
            return
        wait = await self.limiter.hit(limit, producer)
        if wait > 0:
            self.metrics.rate_limited.labels("publish").inc()
            raise too_many_requests(
                f"Publishing too fast: at most {limit.rate_per_second:g} per second (bursts of {limit.burst}) "
                "per API key. Nothing was stored; send it again after Retry-After seconds.", math.ceil(wait))

    async def publish_read(self, user_id: str, item_ids: list[str] | None) -> int:
        """Mark items read (all, for ``None``) and tell every connection of the user; returns the unread count."""
        if item_ids is not None and any("\x00" in item_id for item_id in item_ids):
            raise not_found("No such notification in your inbox.")  # ids never hold NUL; PostgreSQL could not even look
        await self.catch_up([user_id])  # a broadcast seen live may not be in the inbox yet (WebSocket reads too)
        # "All read" records no ids: for webhooks, note which were unread (only when an endpoint listens).
        unread_before = (await self._unread_ids(user_id) if item_ids is None and self.webhooks is not None
                         and self.webhooks.wants("read") else [])
        result = await self.inbox.mark_read(user_id, item_ids)
        if result is None:
            raise not_found("No such notification in your inbox.")
        change, unread = result
        if change is not None:
            await self._announce([_event(change)])
            if self.push is not None:
                await self._sync_devices(user_id, change)
            if self.webhooks is not None and self.webhooks.wants("read"):
                read_at = now_ms()
                for item_id in unread_before if item_ids is None else _read_body(change.payload).ids:
                    self.webhooks.emit("read", {"readAt": read_at}, user_id=user_id, item_id=item_id)
        return unread

    async def _unread_ids(self, user_id: str) -> list[str]:
        try:
            async with self.db.read() as conn:
                return list((await conn.execute(select(inbox_items.c.id).where(
                    inbox_items.c.user_id == user_id, inbox_items.c.read.is_(False)))).scalars())
        except Exception:  # noqa: BLE001 - webhooks must not fail the read: these events are lost, logged
            log.exception("listing unread items for read webhooks failed for %s", user_id)
            self.metrics.webhook_emit_errors.inc()
            return []

    async def _sync_devices(self, user_id: str, change: InboxWrite) -> None:
        """Phones that were pushed the items just read get a silent update, so their notifications go too."""
        assert self.push is not None
        try:
            body = _read_body(change.payload)
            await self.push.sync_read(user_id, body.ids, everything=body.all)
        except Exception:  # noqa: BLE001 - the read committed; only the phones' clean-up is lost
            log.exception("queueing read updates to devices failed for %s", user_id)

    async def publish_changes(self, changes: list[InboxWrite]) -> None:
        """Announce committed ``retract`` changes, and tell the devices and browsers no tab can reach.

        The retraction committed before this is called (retraction.py): like ``_announce``, never raises.
        """
        if not changes:
            return
        await self._announce([_event(change) for change in changes])
        if self.push is not None:
            try:
                await self.push.sync_retract({c.user_id: _read_body(c.payload).ids for c in changes})
            except Exception:  # noqa: BLE001 - the retract committed; only the shown notifications stay
                log.exception("queueing retract pushes failed for %d users", len(changes))

    async def preferences_saved(self, user_id: str) -> None:
        """The user's connections mark broadcasts for them from now on (gateway.py); never written to a client."""
        await self._announce([BusEvent("preferences", user_id, 0, 0, b"{}")])

    async def announce_everywhere(self, kind: str, body: dict[str, Any]) -> None:
        """A change outside every inbox order, to every connection (a broadcast's retraction); never raises."""
        await self._announce([BusEvent(kind, "", 0, CHANGE_RANK, encoder.encode(body))])

    async def announce(self, writes: list[InboxWrite]) -> None:
        """Offer committed inbox writes (triage changes, items back from a snooze) to the bus; never raises."""
        if writes:
            await self._announce([_event(write) for write in writes])

    async def close_on_devices(self, user_id: str, item_ids: list[str]) -> None:
        """Items read, archived or snoozed by triage (triage.py): the devices that were pushed them close them.

        The change committed already: like ``_announce``, never raises.
        """
        if self.push is None or not item_ids:
            return
        try:
            await self.push.sync_read(user_id, item_ids, everything=False)
        except Exception:  # noqa: BLE001 - the change committed; only the phones' clean-up is lost
            log.exception("queueing device sync failed for %s", user_id)

    async def _announce(self, events: list[BusEvent]) -> None:
        """Offer committed changes to the bus. Never raises: what committed stands, whatever the bus does.

        Whatever the bus loses, items and changes alike, each connection recovers from the inbox
        (the gap fill, and the resync every connection makes when a Redis bus comes back).
        """
        try:
            await self.fanout.publish(events)
        except Exception as exc:  # noqa: BLE001 - the commit is the answer; the bus is an optimisation on top
            if isinstance(exc, (RedisError, OSError)):
                self.metrics.redis_errors.labels("publish").inc()
            log.warning("fan-out failed for %d events (%s); clients will recover from the inbox", len(events), exc)

    async def _fan_out(self, deliveries: list[InboxWrite], accepted: float = 0.0,
                       notification_id: str | None = None, *, silent: bool = False,
                       expires_at: int | None = None, category: str = "") -> int:
        """Offer the deliveries to live connections and queue pushes for the rest; returns pushes queued.

        A silent update alerts nobody: no quiet marking (it makes no toast to count), no push.
        The recipients' preferences (quiet hours, channels, presence) mark each event and choose its pushes.
        """
        allowed: dict[str, frozenset[str]] | None = None
        if not silent:
            try:
                deliveries = await quiet_excess(self.limiter, self.recipient_limit, self.metrics, deliveries)
            except Exception:  # noqa: BLE001 - the limit is a nicety: without it everything goes out loud
                log.exception("per-recipient limit failed; delivering %d items with toasts", len(deliveries))
            if self.preferences is not None:
                try:
                    applied = await self.preferences.apply(deliveries, category)
                    deliveries, allowed = applied.deliveries, applied.allowed
                except Exception:  # noqa: BLE001 - the 202 stands; without preferences the items go out as sent
                    log.exception("applying preferences failed for %d deliveries", len(deliveries))
        await self._announce([_event(d, accepted) for d in deliveries])
        if self.push is not None and not silent:
            try:
                return await self.push.enqueue(deliveries, notification_id, expires_at=expires_at, allowed=allowed)
            except Exception:  # noqa: BLE001 - the 202 stands: the inbox has every item, only the push is lost
                log.exception("queueing pushes failed for %d deliveries", len(deliveries))
        return 0

    async def _persist(self, request: PublishRequest, producer: str, notification_id: str | None = None,
                       within: AsyncConnection | None = None) -> tuple[PublishResponse, list[InboxWrite] | None]:
        """Write the notification and its inbox items; deliveries None when the idempotency key answered."""
        now = now_ms()
        note: dict[str, Any] = {
            "id": notification_id or new_id(), "type": request.type, "title": request.title, "body": request.body,
            "priority": request.priority, "group_key": request.group_key, "url": request.url,
            "data": request.data, "actor": request.actor, "producer": producer, "created_at": now,
            "replace_key": request.replace_key, "silent": request.silent or None, "expires_at": expiry_ms(request, now),
            "avatar_url": request.avatar_url, "image_url": request.image_url,
            "category": request.category,
            "actions": [msgspec.to_builtins(action) for action in request.actions] if request.actions else None,
        }
        key = request.idempotency_key
        # A list of users is its own count; a group, topic or "all" is counted once expanded.
        counted = len(dict.fromkeys(request.to.users)) if request.to.users is not None else None
        async with self._transaction(within) as conn:
            if key is not None:
                # Claim the key first: a concurrent twin waits on this row, then finds it taken.
                if not await self.keys.claim(conn, producer, key, note["id"], counted or 0, now):
                    return await self.keys.earlier_within(conn, producer, key), None
            if (self.broadcasts is not None and (request.to.all or request.to.topic is not None)
                    and not (request.group_key or request.replace_key)):
                return await self._persist_broadcast(conn, request, note, producer, key)
            user_ids = await self.audience.expand(conn, request.to)
            target = {k: v for k, v in (("users", request.to.users), ("group", request.to.group),
                                        ("topic", request.to.topic), ("all", request.to.all)) if v is not None}
            # Parameters, not .values(): SQLAlchemy then reuses the compiled statement without coercing each value.
            await conn.execute(NOTIFICATION_INSERT, {**note, "target": target, "recipients": len(user_ids)})
            deliveries = await self.inbox.deliver(conn, note, user_ids)
            if key is not None and counted is None:
                await self.keys.count(conn, producer, key, len(user_ids))
        return PublishResponse(note["id"], len(user_ids)), deliveries

    async def _persist_broadcast(self, conn: AsyncConnection, request: PublishRequest, note: dict[str, Any],
                                 producer: str, key: str | None) -> tuple[PublishResponse, list[InboxWrite]]:
        """Fan-out on read (broadcasts.py): the notification and one broadcast row, whatever the audience.

        A group or replace key still writes per recipient (the caller): what it updates differs per inbox.
        """
        assert self.broadcasts is not None
        count, write = await self.broadcasts.persist(conn, note, request.to.topic)
        if key is not None:
            await self.keys.count(conn, producer, key, count)
        return PublishResponse(note["id"], count), [write]

    @contextlib.asynccontextmanager
    async def _transaction(self, within: AsyncConnection | None) -> AsyncIterator[AsyncConnection]:
        """``within`` when the caller holds a transaction already (``publish_due``), else a new one."""
        if within is not None:
            yield within
            return
        async with self.db.write() as conn:
            yield conn

    async def prune_keys(self) -> None:
        await self.keys.prune()

def _event(write: InboxWrite, accepted: float = 0.0) -> BusEvent:
    return BusEvent(write.kind, write.user_id, write.seq, write.rank, write.payload, accepted)  # type: ignore[arg-type]


def _target_kind(request: PublishRequest) -> str:
    to = request.to
    return "users" if to.users is not None else "group" if to.group is not None else "topic" if to.topic is not None else "all"
