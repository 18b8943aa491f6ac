"""Read state across devices: an item read anywhere leaves no stale notification on a phone.

When a device's push service accepts a push of an inbox item, the sender
remembers it (``device_pushes``). When the user reads items (on the web, in
the app, on another phone), ``Publisher.publish_read`` hands the ids here
after the read committed, and every device that was pushed one of them gets a
silent update: an APNs background push or an FCM data message carrying
``{"kind": "read", "ids": [...], "all": bool}``, so the app can remove those
notifications. The updates are rows of the one push queue, sent and retried
like any push; the remembered rows are deleted in the same transaction, so
each pushed item causes at most one update per device.

Web Push gets none for reads: browsers must show a notification for every push.

Retraction and expiry (retraction.py) go further: the items are gone, so
besides the devices that were pushed them, every Web Push subscription that
was pushed one (``subscription_pushes``) of a user with no open connection
gets ``{"kind": "retract", "ids": [...]}``, on which the service worker closes
those notifications (a user with an open tab hears the ``retract`` event
there, and the page tells its worker). Only those: a push that shows nothing
costs the site some of the silent-push budget browsers allow. Pushes
still queued for the removed items are dropped at send time (sender.py).
"""
from __future__ import annotations

from typing import Callable, Mapping

from sqlalchemy import delete, exists, select

from herald.db import Database
from herald.models import device_pushes, devices, notifications, push_jobs, push_results, subscription_pushes
from herald.push.provider import READ_ITEM, RETRACT_ITEM, Provider
from herald.wire import now_ms

IDS_PER_UPDATE = 100  # 100 ids of 26 characters fit APNs' and FCM's 4 KB with room to spare


class ReadSync:
    def __init__(self, db: Database, providers: Mapping[str, Provider], ttl_seconds: int,
                 wake: Callable[[str], None]) -> None:
        self.db = db
        self.providers = providers
        self.ttl_ms = ttl_seconds * 1000
        self.wake = wake

    @property
    def enabled(self) -> bool:
        return any(name != "webpush" for name in self.providers)

    async def read(self, user_id: str, item_ids: list[str], everything: bool) -> int:
        """Queue the silent updates for items just read (all of the user's, for ``everything``); returns how many."""
        if not self.enabled or not (item_ids or everything):
            return 0
        where = [device_pushes.c.user_id == user_id]
        if not everything:
            where.append(device_pushes.c.item_id.in_(sorted(set(item_ids))))
        async with self.db.read() as conn:
            pushed = (await conn.execute(
                select(device_pushes.c.device_id, device_pushes.c.item_id, devices.c.platform)
                .join(devices, devices.c.id == device_pushes.c.device_id).where(*where))).all()
        if not pushed:
            return 0
        per_device: dict[tuple[str, str], list[str]] = {}
        for device_id, item_id, platform in pushed:
            per_device.setdefault((device_id, platform), []).append(item_id)
        now = now_ms()
        rows: list[dict[str, object]] = []
        for (device_id, platform), ids in per_device.items():
            provider = self.providers.get(platform)
            if provider is None:
                continue
            ids.sort()
            for start in range(0, len(ids), IDS_PER_UPDATE):
                prepared = provider.prepare_read(ids[start:start + IDS_PER_UPDATE], everything)
                if prepared is None:
                    continue
                rows.append({"provider": platform, "device_id": device_id, "user_id": user_id,
                             "item_id": READ_ITEM, "payload": prepared.payload, "urgency": prepared.urgency,
                             "topic": prepared.topic, "attempts": 0, "created_at": now,
                             "expires_at": now + self.ttl_ms, "next_attempt_at": now})
        async with self.db.write() as conn:
            if rows:
                await conn.execute(push_jobs.insert(), rows)
            await conn.execute(delete(device_pushes).where(
                device_pushes.c.device_id.in_(sorted({device for device, _ in per_device})), *where))
        for platform in {row["provider"] for row in rows}:
            self.wake(str(platform))
        return len(rows)

    async def retract(self, removed: dict[str, list[str]], offline: set[str]) -> int:
        """Queue the updates that close removed items' notifications (see the module docstring); returns how many."""
        if not removed:
            return 0
        users = sorted(removed)
        pairs = {(user, item) for user, ids in removed.items() for item in ids}
        async with self.db.read() as conn:
            pushed = [row for row in (await conn.execute(
                select(device_pushes.c.device_id, device_pushes.c.user_id, device_pushes.c.item_id, devices.c.platform)
                .join(devices, devices.c.id == device_pushes.c.device_id)
                .where(self.db.among(device_pushes.c.user_id, users)))).all() if (row.user_id, row.item_id) in pairs]
            away = sorted(offline & set(users))
            browsers = [row for row in (await conn.execute(
                select(subscription_pushes.c.subscription_id, subscription_pushes.c.user_id,
                       subscription_pushes.c.item_id)
                .where(self.db.among(subscription_pushes.c.user_id, away)))).all()
                if (row.user_id, row.item_id) in pairs] if away else []
        per_target: dict[tuple[str, str, str], list[str]] = {}
        for device_id, user_id, item_id, platform in pushed:
            per_target.setdefault((platform, device_id, user_id), []).append(item_id)
        for subscription_id, user_id, item_id in browsers:
            per_target.setdefault(("webpush", subscription_id, user_id), []).append(item_id)
        now = now_ms()
        rows: list[dict[str, object]] = []
        for (platform, target_id, user_id), ids in per_target.items():
            provider = self.providers.get(platform)
            if provider is None:
                continue
            ids.sort()
            for start in range(0, len(ids), IDS_PER_UPDATE):
                prepared = provider.prepare_retract(ids[start:start + IDS_PER_UPDATE])
                if prepared is None:
                    continue
                rows.append({"provider": platform, "user_id": user_id, "item_id": RETRACT_ITEM,
                             "subscription_id": target_id if platform == "webpush" else None,
                             "device_id": None if platform == "webpush" else target_id,
                             "payload": prepared.payload, "urgency": prepared.urgency, "topic": prepared.topic,
                             "attempts": 0, "created_at": now, "expires_at": now + self.ttl_ms, "next_attempt_at": now})
        async with self.db.write() as conn:
            if rows:
                await conn.execute(push_jobs.insert(), rows)
            for device_id, user_id, item_id, _ in pushed:
                await conn.execute(delete(device_pushes).where(
                    device_pushes.c.device_id == device_id, device_pushes.c.item_id == item_id))
            for subscription_id, _, item_id in browsers:
                await conn.execute(delete(subscription_pushes).where(
                    subscription_pushes.c.subscription_id == subscription_id, subscription_pushes.c.item_id == item_id))
        for platform in {row["provider"] for row in rows}:
            self.wake(str(platform))
        return len(rows)

    async def prune(self, older_than_ms: int) -> None:
        """Forget pushes of items retention has removed, and the counts of notifications gone with them."""
        async with self.db.write() as conn:
            await conn.execute(delete(device_pushes).where(device_pushes.c.at < older_than_ms))
            await conn.execute(delete(subscription_pushes).where(subscription_pushes.c.at < older_than_ms))
            await conn.execute(delete(push_results).where(
                ~exists(select(notifications.c.id).where(notifications.c.id == push_results.c.notification_id))))
