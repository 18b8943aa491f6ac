"""Pushes for users with no live connection, on every channel: targets, policy and the one queue.

After a publish commits, ``enqueue`` asks the fan-out who is online, and for
each recipient whose priority the policy pushes (``HERALD_PUSH_PRIORITIES``)
writes one ``push_jobs`` row per target (a browser's Web Push subscription, or
a phone registered for FCM or APNs, devices.py): due now for offline users;
for online ones, due after ``HERALD_PUSH_ACK_TIMEOUT_SECONDS``. A connection
can look open and deliver nothing (a half-dead TCP path, a tab the browser
froze), so an online user's push is held, not skipped: the sender drops it
if by then a client acknowledged the item (receipts.py) or the user read
it, and sends it otherwise. One ``PushSender`` per provider (sender.py)
drains the rows; each provider (provider.py) prepares its own payload once per
notification.
Because the queue is in the database, a push that got a row, held or not, is
checked and retried across restarts until it is answered or runs out of
attempts or TTL: at-least-once, bounded.

Digest: a delivery that publish.py sent ``"quiet": true`` (its recipient is
over ``HERALD_RECIPIENT_LIVE_PER_MINUTE``) gets no push of its own. Instead an
offline user gets at most one digest push per minute, "N new notifications"
(N unread), under one tag and collapse key (RFC 8030 ``Topic``, FCM
``collapse_key``, ``apns-collapse-id``), so it replaces the previous digest on
the device and at the push service.

Providers are on when configured: Web Push always, FCM with
``HERALD_FCM_CREDENTIALS_FILE``, APNs with ``HERALD_APNS_KEY_FILE``; a bad key
fails the start (``check_native_push``).

Limit, stated plainly: the online check and the rows come after the inbox
commit, so a process dying in that instant loses the push, never the
notification (it is in the inbox). "Online" is asked through
``Fanout.online``, which a multi-process bus answers cluster-wide.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Mapping, Sequence

import msgspec
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, func, select

from herald.db import Database
from herald.fanout.base import Fanout
from herald.inbox import Inbox, InboxWrite
from herald.metrics import Metrics
from herald.models import push_jobs, push_subscriptions
from herald.push.devices import DeviceRecord, DeviceRegistry, check_device
from herald.push.endpoint import check_endpoint
from herald.push.message import away_title
from herald.push.provider import DIGEST_ITEM, Prepared, Provider, Subscription
from herald.push.readstate import ReadSync
from herald.push.sender import PushSender
from herald.push.vapid import VapidKeys, b64url_decode, load_keys
from herald.push.webpush import WebPushProvider
from herald.ratelimit import Limit, MemoryRateLimiter, RateLimiter
from herald.settings import Settings
from herald.wire import PRIORITY_RANK, new_id, now_ms

if TYPE_CHECKING:
    from herald.webhooks import Webhooks

__all__ = ["PushService", "Subscription", "check_keys", "check_native_push"]

log = logging.getLogger("herald.push")

PRIORITY_OF_RANK = {rank: priority for priority, rank in PRIORITY_RANK.items()}
MAX_SUBSCRIPTIONS_PER_USER = 20
# One digest per user per minute: the window of HERALD_RECIPIENT_LIVE_PER_MINUTE.
DIGEST_LIMIT = Limit("digest_push", 1 / 60, 1)

_decode = msgspec.json.Decoder().decode


def check_keys(p256dh: str, auth: str) -> str | None:
    """Why the subscription's keys are unusable, or None: a P-256 public point and a 16-byte secret."""
    try:
        point = b64url_decode(p256dh)
    except ValueError:
        return '"keys.p256dh" must be base64url.'
    if len(point) != 65 or point[0] != 4:
        return '"keys.p256dh" must be a 65-byte uncompressed P-256 point.'
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        return '"keys.p256dh" is not a point on the P-256 curve.'
    try:
        secret = b64url_decode(auth)
    except ValueError:
        return '"keys.auth" must be base64url.'
    if len(secret) != 16:
        return '"keys.auth" must be a 16-byte secret.'
    return None


def check_native_push(settings: Settings) -> list[Provider]:
    """The configured FCM and APNs providers, built (so their keys read) now: a bad key raises ``SettingsError``."""
    providers: list[Provider] = []
    if settings.fcm_credentials_file:
        from herald.push.fcm import FcmProvider  # google-auth only when FCM is used

        providers.append(FcmProvider(settings))
    if settings.apns_key_file:
        from herald.push.apns import ApnsProvider

        providers.append(ApnsProvider(settings))
    return providers


class PushService:
    def __init__(self, settings: Settings, db: Database, inbox: Inbox, fanout: Fanout, metrics: Metrics,
                 keys: VapidKeys | None = None, limiter: RateLimiter | None = None,
                 native: Sequence[Provider] | None = None, webhooks: Webhooks | None = None) -> None:
        self.settings = settings
        self.limiter = limiter or MemoryRateLimiter()
        self.db = db
        self.inbox = inbox  # for a digest's unread count
        self.fanout = fanout
        self.metrics = metrics
        self.keys = keys or load_keys(settings)
        self.priorities = frozenset(settings.push_priorities)
        self.hold_ms = int(settings.push_ack_timeout_seconds * 1000)
        providers = [WebPushProvider(settings, self.keys),
                     *(check_native_push(settings) if native is None else native)]
        self.providers: dict[str, Provider] = {provider.name: provider for provider in providers}
        self.senders = {name: PushSender(settings, db, metrics, provider, webhooks)
                        for name, provider in self.providers.items()}
        self.devices = DeviceRegistry(db)
        self.read_state = ReadSync(db, self.providers, settings.push_ttl_seconds, self.wake)

    async def start(self) -> None:
        for sender in self.senders.values():
            await sender.start()

    async def stop(self) -> None:
        for sender in self.senders.values():
            await sender.stop()

    def wake(self, provider: str) -> None:
        sender = self.senders.get(provider)
        if sender is not None:
            sender.wake()

    def check_endpoint(self, endpoint: str) -> None:
        check_endpoint(endpoint, production=self.settings.is_production, hosts=self.settings.push_endpoint_hosts)

    async def subscribe(self, user_id: str, subscription: Subscription) -> None:
        """Store (or take over) a browser's subscription; a user keeps at most the newest 20."""
        now = now_ms()
        async with self.db.write() as conn:
            stmt = self.db.insert(push_subscriptions).values(
                id=new_id(), user_id=user_id, endpoint=subscription.endpoint, p256dh=subscription.p256dh,
                auth=subscription.auth, created_at=now)
            # The endpoint names one browser profile: whoever subscribed from it last owns it.
            await conn.execute(stmt.on_conflict_do_update(
                index_elements=[push_subscriptions.c.endpoint],
                set_={"user_id": user_id, "p256dh": subscription.p256dh, "auth": subscription.auth,
                      "created_at": now}))
            count = (await conn.execute(select(func.count()).select_from(push_subscriptions)
                                        .where(push_subscriptions.c.user_id == user_id))).scalar() or 0
            if count > MAX_SUBSCRIPTIONS_PER_USER:
                oldest = (select(push_subscriptions.c.id).where(push_subscriptions.c.user_id == user_id)
                          .order_by(push_subscriptions.c.created_at).limit(count - MAX_SUBSCRIPTIONS_PER_USER))
                await conn.execute(delete(push_subscriptions).where(
                    push_subscriptions.c.id.in_(oldest.scalar_subquery())))

    async def unsubscribe(self, user_id: str, endpoint: str) -> bool:
        async with self.db.write() as conn:
            result = await conn.execute(delete(push_subscriptions).where(
                push_subscriptions.c.user_id == user_id, push_subscriptions.c.endpoint == endpoint))
        return bool(result.rowcount)

    async def register_device(self, user_id: str, platform: str, token: str, app: str) -> DeviceRecord:
        """Store a phone app's registration (a 400 for a bad token, or a platform this Herald does not push to)."""
        device = check_device(platform, token, app, enabled=[p for p in self.providers if p != "webpush"],
                              apns_topics=self.settings.apns_topic)
        return await self.devices.register(user_id, device)

    async def sync_read(self, user_id: str, item_ids: list[str], *, everything: bool) -> int:
        """Silent updates to the devices that were pushed these items, now read (readstate.py)."""
        return await self.read_state.read(user_id, item_ids, everything)

    async def sync_retract(self, removed: dict[str, list[str]]) -> int:
        """Close removed items' notifications on devices, and in browsers with no open tab (readstate.py)."""
        online = await self.fanout.online(set(removed))
        return await self.read_state.retract(removed, set(removed) - online)

    async def prune(self, older_than_ms: int) -> None:
        await self.read_state.prune(older_than_ms)

    async def enqueue(self, deliveries: Sequence[InboxWrite], notification_id: str | None = None, *,
                      expires_at: int | None = None, allowed: Mapping[str, frozenset[str]] | None = None) -> int:
        """Queue pushes for committed deliveries on every channel; returns the rows due now.

        ``allowed``: per user, the only providers to use (preferences.py); a user with none gets no push
        and no digest now (quiet hours, or looking at the product elsewhere).

        Offline users' pushes are due at once, their quiet items (past the per-recipient
        limit) as at most one digest; online users' are held for a delivered receipt.
        A push never outlives its item: ``expires_at`` (the item's expiry) caps its TTL.
        """
        wanted = [d for d in deliveries if PRIORITY_OF_RANK.get(d.rank) in self.priorities]
        if not wanted:
            return 0
        online = await self.fanout.online({d.user_id for d in wanted})
        if not self.hold_ms:
            wanted = [d for d in wanted if d.user_id not in online]
            if not wanted:
                return 0
        # A recipient known to have no browser subscription or phone (sequence.py) costs no query.
        asked = sorted({d.user_id for d in wanted if d.has_push is not False})
        targets = await self._targets_of(asked) if asked else {}
        if not targets:
            return 0
        now = now_ms()
        expires = now + self.settings.push_ttl_seconds * 1000
        if expires_at is not None:
            expires = max(now + 1000, min(expires, expires_at))
        items: dict[int, dict[str, object] | None] = {}
        prepared: dict[tuple[int, str], Prepared] = {}
        rows: list[dict[str, object]] = []
        quiet: set[str] = set()
        held = 0

        def add(provider: str, target_id: str, user_id: str, item_id: str, push: Prepared, due: int) -> None:
            nonlocal held
            held += due > now
            rows.append({"provider": provider, "user_id": user_id, "item_id": item_id,
                         "notification_id": notification_id, "payload": push.payload, "urgency": push.urgency,
                         "topic": push.topic, "attempts": 0, "created_at": now, "expires_at": expires,
                         "next_attempt_at": due,
                         "subscription_id": target_id if provider == "webpush" else None,
                         "device_id": None if provider == "webpush" else target_id})

        for delivery in wanted:
            user_targets = targets.get(delivery.user_id)
            if allowed is not None and delivery.user_id in allowed:
                permitted = allowed[delivery.user_id]
                user_targets = [t for t in user_targets or () if t[0] in permitted]
            if not user_targets:
                continue
            # Deliveries of one fresh notification share one payload object: decode it, and prepare it
            # for each provider, once.
            key = id(delivery.payload)
            if key not in items:
                item = _decode(delivery.payload)
                items[key] = None if item.get("quiet") else item
            item = items[key]
            online_now = delivery.user_id in online
            if item is None:
                if not online_now:  # an open tab shows its own digest toast
                    quiet.add(delivery.user_id)
                continue
            for provider, target_id in user_targets:
                push = prepared.get((key, provider))
                if push is None:
                    push = prepared[key, provider] = self.providers[provider].prepare(item)
                add(provider, target_id, delivery.user_id, str(item["id"]), push,
                    now + self.hold_ms if online_now else now)
        digests = 0
        if quiet:
            users = sorted(quiet)
            waits = await self.limiter.hit_many(DIGEST_LIMIT, users)
            due = [user for user, wait in zip(users, waits) if wait <= 0]
            before = len(rows)
            for user_id, start in (await self.inbox.stream_starts(due)).items():
                if start.unread:  # read meanwhile: nothing to announce
                    for provider, target_id in targets[user_id]:
                        if allowed is not None and user_id in allowed and provider not in allowed[user_id]:
                            continue
                        add(provider, target_id, user_id, DIGEST_ITEM,
                            self.providers[provider].prepare_digest(start.unread, now), now)
            digests = len(rows) - before
        if not rows:
            return 0
        async with self.db.write() as conn:
            await conn.execute(push_jobs.insert(), rows)
        due_now = len(rows) - held
        self.metrics.push_held.inc(held)
        self.metrics.push_enqueued.inc(due_now)
        if digests:
            self.metrics.push_digests.inc(digests)
        for provider in {str(row["provider"]) for row in rows if row["next_attempt_at"] == now}:
            self.wake(provider)
        return due_now

    async def digest(self, user_id: str, count: int, providers: frozenset[str]) -> int:
        """One push per target on ``providers``: "N notifications while you were away" (quiet hours ended)."""
        now = now_ms()
        rows = [{"provider": provider, "user_id": user_id, "item_id": DIGEST_ITEM, "notification_id": None,
                 "payload": push.payload, "urgency": push.urgency, "topic": push.topic, "attempts": 0,
                 "created_at": now, "expires_at": now + self.settings.push_ttl_seconds * 1000,
                 "next_attempt_at": now, "subscription_id": target_id if provider == "webpush" else None,
                 "device_id": None if provider == "webpush" else target_id}
                for provider, target_id in (await self._targets_of([user_id])).get(user_id, [])
                if provider in providers
                for push in [self.providers[provider].prepare_digest(count, now, away_title(count))]]
        if not rows:
            return 0
        async with self.db.write() as conn:
            await conn.execute(push_jobs.insert(), rows)
        self.metrics.push_enqueued.inc(len(rows))
        self.metrics.push_digests.inc(len(rows))
        for provider in {str(row["provider"]) for row in rows}:
            self.wake(provider)
        return len(rows)

    async def _targets_of(self, user_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
        """(provider, subscription or device id) of each user's targets on the configured providers."""
        # Reads first: most publishes reach nobody with a target, and SQLite has one writer.
        found: dict[str, list[tuple[str, str]]] = {}
        async with self.db.read() as conn:
            rows = await conn.execute(select(push_subscriptions.c.user_id, push_subscriptions.c.id).where(
                self.db.among(push_subscriptions.c.user_id, user_ids)))
            for user_id, subscription_id in rows:
                found.setdefault(user_id, []).append(("webpush", subscription_id))
        native = [name for name in self.providers if name != "webpush"]
        for user_id, pairs in (await self.devices.targets(user_ids, native)).items():
            found.setdefault(user_id, []).extend(pairs)
        return found
