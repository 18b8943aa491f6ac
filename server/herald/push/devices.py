"""The device registry: phone apps that registered for native push (FCM on Android, APNs on iOS).

A token is what FCM or APNs gave one install of the app; whoever holds it can
have pushes sent to that phone through Herald's credentials, so:

- it is checked before it is stored (``check_device``): an APNs token is hex
  (32 bytes today, up to 100 allowed as Apple asks not to assume a length),
  an FCM registration token is base64url with ``:``, 64-1024 characters;
- the user who registered a token last owns it (a phone signed into another
  account), and a user keeps at most the newest ``MAX_DEVICES_PER_USER``;
- it is shown only to its own user and to admins, and never logged: logs name
  a device by ``token_hint``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from sqlalchemy import delete, func, select

from herald.db import Database
from herald.errors import invalid_request
from herald.models import devices
from herald.push.provider import Device
from herald.wire import new_id, now_ms

MAX_DEVICES_PER_USER = 20
PLATFORMS = ("fcm", "apns")
_APNS_TOKEN = re.compile(r"(?:[0-9a-f]{2}){32,100}")
_FCM_TOKEN = re.compile(r"[A-Za-z0-9_:\-]{64,1024}")
_APP = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,154}")


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    id: str
    user_id: str
    platform: str
    token: str
    app: str
    created_at: int
    last_success_at: int | None
    last_error: str | None
    last_error_at: int | None


def token_hint(token: str) -> str:
    """What logs and the admin's lists show of a token: enough to tell devices apart, not to use one."""
    return token[:8] + "\u2026"


def check_device(platform: str, token: str, app: str, *, enabled: Iterable[str],
                 apns_topics: Sequence[str]) -> Device:
    """The device to store, or a 400 saying which rule the registration broke."""
    if platform not in PLATFORMS:
        raise invalid_request('"platform" must be "fcm" or "apns".')
    if platform not in enabled:
        setting = "HERALD_FCM_CREDENTIALS_FILE" if platform == "fcm" else "HERALD_APNS_KEY_FILE"
        raise invalid_request(f"This Herald does not send {platform} pushes ({setting} is not configured).")
    if platform == "apns":
        token = token.lower()  # Apple's tokens are hex; clients print them in either case
        if not _APNS_TOKEN.fullmatch(token):
            raise invalid_request('"token" must be the APNs device token in hex (64 to 200 hex digits).')
    elif not _FCM_TOKEN.fullmatch(token):
        raise invalid_request('"token" must be an FCM registration token (64 to 1024 characters of '
                              'letters, digits, "-", "_" and ":").')
    if not _APP.fullmatch(app):
        raise invalid_request('"app" must be the app\'s package name or bundle id (letters, digits, ".", "-", "_").')
    if platform == "apns" and app not in apns_topics:
        raise invalid_request(f'"app" {app!r} is not a bundle id this Herald pushes to (HERALD_APNS_TOPIC).')
    return Device(platform, token, app)


class DeviceRegistry:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def register(self, user_id: str, device: Device) -> DeviceRecord:
        """Store (or take over) a device; a user keeps the newest ``MAX_DEVICES_PER_USER``."""
        now = now_ms()
        async with self.db.write() as conn:
            stmt = self.db.insert(devices).values(id=new_id(), user_id=user_id, platform=device.platform,
                                                  token=device.token, app=device.app, created_at=now)
            # A new owner starts with a clean history: the last answers were about someone else's pushes.
            await conn.execute(stmt.on_conflict_do_update(
                index_elements=[devices.c.platform, devices.c.token],
                set_={"user_id": user_id, "app": device.app, "created_at": now, "last_success_at": None,
                      "last_error": None, "last_error_at": None}))
            count = (await conn.execute(select(func.count()).select_from(devices)
                                        .where(devices.c.user_id == user_id))).scalar() or 0
            if count > MAX_DEVICES_PER_USER:
                oldest = (select(devices.c.id).where(devices.c.user_id == user_id)
                          .order_by(devices.c.created_at, devices.c.id).limit(count - MAX_DEVICES_PER_USER))
                await conn.execute(delete(devices).where(devices.c.id.in_(oldest.scalar_subquery())))
            row = (await conn.execute(select(devices).where(devices.c.platform == device.platform,
                                                            devices.c.token == device.token))).one()
        return DeviceRecord(**row._mapping)

    async def unregister(self, user_id: str, token: str) -> bool:
        """Forget the user's device with this token (either case for APNs' hex); False if it is not theirs."""
        async with self.db.write() as conn:
            result = await conn.execute(delete(devices).where(
                devices.c.user_id == user_id, devices.c.token.in_(sorted({token, token.lower()}))))
        return bool(result.rowcount)

    async def of_user(self, user_id: str) -> list[DeviceRecord]:
        async with self.db.read() as conn:
            rows = await conn.execute(select(devices).where(devices.c.user_id == user_id)
                                      .order_by(devices.c.created_at.desc(), devices.c.id))
            return [DeviceRecord(**row._mapping) for row in rows]

    async def targets(self, user_ids: Sequence[str], platforms: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        """(platform, device id) of each user's devices on the given platforms."""
        found: dict[str, list[tuple[str, str]]] = {}
        if not platforms or not user_ids:
            return found
        async with self.db.read() as conn:
            rows = await conn.execute(select(devices.c.user_id, devices.c.platform, devices.c.id).where(
                self.db.among(devices.c.user_id, user_ids), devices.c.platform.in_(list(platforms))))
            for user_id, platform, device_id in rows:
                found.setdefault(user_id, []).append((platform, device_id))
        return found
