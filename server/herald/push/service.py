"""Web Push for users with no live connection: subscriptions, policy and the queue.

After a publish commits, ``enqueue`` asks the fan-out who is online, and for
each recipient whose priority the policy pushes (``HERALD_PUSH_PRIORITIES``)
writes one ``push_jobs`` row per subscription: due now for offline users;
for online ones, due after ``HERALD_PUSH_ACK_TIMEOUT_SECONDS``. A connection
can look open and deliver nothing (a half-dead TCP path, a tab the browser
froze), so an online user's push is held, not skipped: the sender drops it
if by then a client acknowledged the item (receipts.py) or the user read
it, and sends it otherwise. ``PushSender`` (sender.py) drains the rows.
Because the queue is in the database, a push that got a row, held or not, is
checked and retried across restarts until it is answered or runs out of
attempts or TTL: at-least-once, bounded.

Digest: a delivery that publish.py sent ``"quiet": true`` (its recipient is
over ``HERALD_RECIPIENT_LIVE_PER_MINUTE``) gets no push of its own. Instead an
offline user gets at most one digest push per minute, "N new notifications"
(N unread), under one tag and RFC 8030 ``Topic``, so it replaces the previous
digest on the device and at the push service.

Limit, stated plainly: the online check and the rows come after the inbox
commit, so a process dying in that instant loses the push, never the
notification (it is in the inbox). "Online" is asked through
``Fanout.online``, which a multi-process bus answers cluster-wide.
"""
from __future__ import annotations

import logging
from typing import Sequence

import msgspec
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, func, select

from herald.db import Database
from herald.fanout.base import Fanout
from herald.inbox import Inbox, InboxWrite
from herald.metrics import Metrics
from herald.models import push_jobs, push_subscriptions
from herald.push.endpoint import check_endpoint
from herald.push.message import DIGEST_TAG, URGENCY, digest_message, push_message, topic_for
from herald.push.sender import PushSender
from herald.push.vapid import VapidKeys, b64url_decode, load_keys
from herald.ratelimit import Limit, MemoryRateLimiter, RateLimiter
from herald.settings import Settings
from herald.wire import PRIORITY_RANK, new_id, now_ms

log = logging.getLogger("herald.push")

PRIORITY_OF_RANK = {rank: priority for priority, rank in PRIORITY_RANK.items()}
MAX_SUBSCRIPTIONS_PER_USER = 20
# One digest per user per minute: the window of HERALD_RECIPIENT_LIVE_PER_MINUTE.
DIGEST_LIMIT = Limit("digest_push", 1 / 60, 1)
DIGEST_ITEM = "herald:digest"  # push_jobs.item_id: matches no inbox item, so never skipped as read

_decode = msgspec.json.Decoder().decode


class Subscription(msgspec.Struct, frozen=True):
    endpoint: str
    p256dh: str
    auth: str


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


class PushService:
    def __init__(self, settings: Settings, db: Database, inbox: Inbox, fanout: Fanout, metrics: Metrics,
                 keys: VapidKeys | None = None, limiter: RateLimiter | None = None) -> None:
        self.settings = settings
        self.limiter = limiter or MemoryRateLimiter()
        self.db = db
        self.inbox = inbox  # for a digest's unread count
        self.fanout = fanout
        self.metrics = metrics
        self.keys = keys or load_keys(settings)
        self.priorities = frozenset(settings.push_priorities)
        self.hold_ms = int(settings.push_ack_timeout_seconds * 1000)
        self.sender = PushSender(settings, db, metrics, self.keys)

    async def start(self) -> None:
        await self.sender.start()

    async def stop(self) -> None:
        await self.sender.stop()

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

    async def enqueue(self, deliveries: Sequence[InboxWrite]) -> int:
        """Queue pushes for committed deliveries; returns the rows due now.

        Offline users' pushes are due at once, their quiet items (past the per-recipient
        limit) as at most one digest; online users' are held for a delivered receipt.
        """
        wanted = [d for d in deliveries if PRIORITY_OF_RANK.get(d.rank) in self.priorities]
        if not wanted:
            return 0
        online = await self.fanout.online({d.user_id for d in wanted})
        if not self.hold_ms:
            wanted = [d for d in wanted if d.user_id not in online]
            if not wanted:
                return 0
        subscriptions = await self._subscriptions_of(sorted({d.user_id for d in wanted}))
        if not subscriptions:
            return 0
        now = now_ms()
        expires = now + self.settings.push_ttl_seconds * 1000
        messages: dict[int, tuple[str, str, str | None, str] | None] = {}
        rows: list[dict[str, object]] = []
        quiet: set[str] = set()
        held = 0

        def add(user_id: str, item_id: str, payload: str, urgency: str, topic: str | None, due: int) -> None:
            nonlocal held
            for subscription_id in subscriptions.get(user_id, ()):
                held += due > now
                rows.append({"subscription_id": subscription_id, "user_id": user_id, "item_id": item_id,
                             "payload": payload, "urgency": urgency, "topic": topic, "attempts": 0,
                             "created_at": now, "expires_at": expires, "next_attempt_at": due})

        for delivery in wanted:
            if delivery.user_id not in subscriptions:
                continue
            # Deliveries of one fresh notification share one payload object: build its message once.
            key = id(delivery.payload)
            if key not in messages:
                item = _decode(delivery.payload)
                group_key = item.get("groupKey")
                messages[key] = None if item.get("quiet") else (
                    push_message(item, self.settings.push_icon_url).decode(), URGENCY[item["priority"]],
                    topic_for(group_key) if group_key else None, item["id"])
            built = messages[key]
            online_now = delivery.user_id in online
            if built is None:
                if not online_now:  # an open tab shows its own digest toast
                    quiet.add(delivery.user_id)
                continue
            payload, urgency, topic, item_id = built
            add(delivery.user_id, item_id, payload, urgency, topic, now + self.hold_ms if online_now else now)
        digests = 0
        if quiet:
            users = sorted(quiet)
            waits = await self.limiter.hit_many(DIGEST_LIMIT, users)
            due = [user for user, wait in zip(users, waits) if wait <= 0]
            before = len(rows)
            for user_id, start in (await self.inbox.stream_starts(due)).items():
                if start.unread:  # read meanwhile: nothing to announce
                    add(user_id, DIGEST_ITEM, digest_message(start.unread, self.settings.push_icon_url, now).decode(),
                        "normal", topic_for(DIGEST_TAG), now)
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
        if due_now:
            self.sender.wake()
        return due_now

    async def _subscriptions_of(self, user_ids: list[str]) -> dict[str, list[str]]:
        # A read first: most publishes reach nobody with a subscription, and SQLite has one writer.
        found: dict[str, list[str]] = {}
        async with self.db.read() as conn:
            rows = await conn.execute(select(push_subscriptions.c.user_id, push_subscriptions.c.id).where(
                self.db.among(push_subscriptions.c.user_id, user_ids)))
            for user_id, subscription_id in rows:
                found.setdefault(user_id, []).append(subscription_id)
        return found
