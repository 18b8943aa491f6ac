"""Preferences: who wants what, on which channel, and when to stay quiet; decided once per publish.

Channels: ``inApp`` (the toast in the bell), ``webPush`` (browser push and the
page's own system notification), ``fcm`` and ``apns`` (phone apps). Each
category of notification (``category`` on publish, else the type's first
dot-segment: ``order.shipped`` is ``order``) has a value per channel: the
user's own choice, else the producer's default, else on. A category the
producer marks ``critical`` is always on and ignores quiet hours.

Where it is decided: after the inbox commit, publish.py hands the deliveries
to ``apply``, which for each recipient

- keeps the item in the inbox and on every live connection, always;
- marks the live event ``"dnd": true`` during quiet hours (quiet.py) unless
  the item is urgent or its category critical: the browser lists it silently,
  no toast, no sound, no system notification; no push now, but the item is
  counted (``held``) for one digest push at the quiet period's end;
- marks it ``"toast": false`` when the category's ``inApp`` is off,
  ``"system": false`` when its ``webPush`` is off, and ``"watched": [ids]``
  when the user is looking at the product in some tab (presence.py);
- says which push providers may be used for it (none while looking or quiet).

The digest: ``run_forever`` finds users whose quiet period ended with items
held, claims each row (compare-and-set on ``digest_at``, so of several nodes
exactly one sends), and sends one push per device, "9 notifications while you
were away", on the channels the held items would have used.

Per publish this costs no query for a recipient without saved preferences
(sequence.py says which have some, in the write that took their numbers), and
the producer's defaults are remembered for ``DEFAULTS_CACHE_SECONDS``: a change
applies at once on the node that made it, and within that time on the others.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Iterable, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from sqlalchemy import select, update

from herald.db import Database
from herald.errors import HeraldError, invalid_request
from herald.inbox import InboxWrite
from herald.models import category_defaults, preferences
from herald.presence import Visibility
from herald.quiet import Window, quiet_until, window
from herald.wire import PRIORITY_RANK, now_ms

log = logging.getLogger("herald.preferences")

CHANNELS = ("inApp", "webPush", "fcm", "apns")
PUSH_PROVIDERS = {"webPush": "webpush", "fcm": "fcm", "apns": "apns"}
ALL_PROVIDERS = frozenset(PUSH_PROVIDERS.values())
UTC = ZoneInfo("UTC")

# Sends the digest push: (user id, items held, providers allowed) -> pushes queued.
DigestSender = Callable[[str, int, frozenset[str]], Awaitable[int]]

DEFAULTS_CACHE_SECONDS = 1.0


def category_of(category: str | None, type_: str) -> str:
    """The category an item's preferences are looked up by."""
    return category or type_.split(".", 1)[0][:64]


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone of this name (400 for one zoneinfo does not know); UTC when none is set."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise invalid_request(f'"timeZone": "{name}" is not an IANA time zone name such as "Europe/Berlin".') from None


def windows(raw: Iterable[dict[str, Any]]) -> list[Window]:
    """Stored or sent quiet hours as windows (400 naming the bad one)."""
    result = []
    for index, item in enumerate(raw):
        try:
            result.append(window(item["days"], item["start"], item["end"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise invalid_request(f'"quietHours[{index}]": {exc}') from None
    return result


@dataclass(frozen=True, slots=True)
class Default:
    critical: bool = False
    channels: dict[str, bool] = dataclasses.field(default_factory=dict)


@dataclass(slots=True)
class UserPreferences:
    time_zone: str | None = None
    quiet_hours: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    dnd_until: int | None = None
    categories: dict[str, dict[str, bool]] = dataclasses.field(default_factory=dict)
    held: int = 0
    held_channels: list[str] = dataclasses.field(default_factory=list)

    def quiet_end(self, now: int) -> int | None:
        """When the quiet period ``now`` (ms) is in ends (ms), or None."""
        dnd = datetime.fromtimestamp(self.dnd_until / 1000, timezone.utc) if self.dnd_until else None
        end = quiet_until(windows(self.quiet_hours), zone(self.time_zone), dnd,
                          datetime.fromtimestamp(now / 1000, timezone.utc))
        return int(end.timestamp() * 1000) if end else None


def effective(default: Default | None, own: dict[str, bool] | None) -> dict[str, bool]:
    """Each channel's value for one category: on, unless the producer's default or the user's choice says off."""
    channels = dict.fromkeys(CHANNELS, True)
    if default is not None and default.critical:
        return channels
    channels.update(default.channels if default else {})
    channels.update(own or {})
    return channels


@dataclass(frozen=True, slots=True)
class Applied:
    deliveries: list[InboxWrite]
    allowed: dict[str, frozenset[str]]
    """Push providers allowed per user, for the users who may not use them all (push/service.py)."""


class Preferences:
    def __init__(self, db: Database, visibility: Visibility, *, sweep_seconds: float) -> None:
        self.db = db
        self.visibility = visibility
        self.sweep_seconds = sweep_seconds
        self.send_digest: DigestSender | None = None  # plugged in by services.py (the push service)
        self._defaults: tuple[float, dict[str, Default]] | None = None  # (read at, monotonic; the defaults)

    async def get(self, user_id: str) -> UserPreferences:
        return (await self._rows([user_id])).get(user_id) or UserPreferences()

    async def save(self, user_id: str, prefs: UserPreferences) -> None:
        values = {"time_zone": prefs.time_zone, "quiet_hours": prefs.quiet_hours, "dnd_until": prefs.dnd_until,
                  "categories": prefs.categories, "updated_at": now_ms()}
        async with self.db.write() as conn:
            stmt = self.db.insert(preferences).values(user_id=user_id, held=0, **values)
            await conn.execute(stmt.on_conflict_do_update(index_elements=[preferences.c.user_id], set_=values))
            # Items held: the next sweep looks again, so that resuming (or a shorter window) sends the digest now,
            # and a longer quiet period moves it to the new end.
            await conn.execute(update(preferences).where(preferences.c.user_id == user_id, preferences.c.held > 0)
                               .values(digest_at=values["updated_at"]))

    async def defaults(self) -> dict[str, Default]:
        async with self.db.read() as conn:
            rows = await conn.execute(select(category_defaults))
            return {row.category: Default(row.critical, dict(row.channels or {})) for row in rows}

    async def set_defaults(self, given: dict[str, Default]) -> None:
        now = now_ms()
        async with self.db.write() as conn:
            for category, default in given.items():
                values = {"critical": default.critical, "channels": default.channels, "updated_at": now}
                stmt = self.db.insert(category_defaults).values(category=category, **values)
                await conn.execute(stmt.on_conflict_do_update(index_elements=[category_defaults.c.category],
                                                              set_=values))
        self._defaults = None

    async def _recent_defaults(self) -> dict[str, Default]:
        """``defaults``, read at most once per ``DEFAULTS_CACHE_SECONDS``: every publish asks for them."""
        cached = self._defaults
        if cached is not None and time.monotonic() - cached[0] < DEFAULTS_CACHE_SECONDS:
            return cached[1]
        read_at = time.monotonic()
        found = await self.defaults()
        self._defaults = (read_at, found)
        return found

    async def _rows(self, user_ids: Sequence[str]) -> dict[str, UserPreferences]:
        async with self.db.read() as conn:
            rows = await conn.execute(select(preferences).where(self.db.among(preferences.c.user_id, user_ids)))
            return {row.user_id: UserPreferences(row.time_zone, list(row.quiet_hours or []), row.dnd_until,
                                                 dict(row.categories or {}), row.held, list(row.held_channels or []))
                    for row in rows}

    async def broadcast_flags(self, category: str) -> bytes:
        """The marks every recipient's live event of a broadcast carries: the producer's default for the category.

        Users with preferences of their own get theirs on top (``apply``, called by the gateway for them).
        """
        channels = effective((await self._recent_defaults()).get(category), None)
        return (b"" if channels["inApp"] else b',"toast":false') + (b"" if channels["webPush"] else b',"system":false')

    async def apply(self, deliveries: list[InboxWrite], category: str, *, hold: bool = True) -> Applied:
        """Mark each delivery's live event and choose its push providers, per recipient (see the module doc).

        ``hold``: count the items quiet hours keep from pushes for the digest; False for live events alone.
        """
        users = sorted({d.user_id for d in deliveries})
        if not users:
            return Applied(deliveries, {})
        default = (await self._recent_defaults()).get(category)
        critical = default is not None and default.critical
        asked = sorted({d.user_id for d in deliveries if d.has_preferences is not False})
        rows = await self._rows(asked) if asked else {}
        looking = await self.visibility.visible(users)
        now = now_ms()
        result: list[InboxWrite] = []
        allowed: dict[str, frozenset[str]] = {}
        held: dict[str, tuple[int, frozenset[str]]] = {}
        encoded: dict[tuple[int, bytes], bytes] = {}
        for delivery in deliveries:
            user = delivery.user_id
            own = rows.get(user)
            channels = effective(default, own.categories.get(category) if own else None)
            providers = frozenset(p for ch, p in PUSH_PROVIDERS.items() if channels[ch])
            exempt = critical or delivery.rank == PRIORITY_RANK["urgent"]
            end = _quiet_end(own, now) if own is not None and not exempt else None
            watchers = looking.get(user)
            visible = watchers is not None
            flags = (b',"dnd":true' if end else b"") + (b"" if channels["inApp"] else b',"toast":false') + (
                b"" if channels["webPush"] else b',"system":false') + (
                b',"watched":' + msgspec.json.encode(watchers) if watchers else b"")
            if end and providers:
                held[user] = (end, providers | frozenset(own.held_channels if own else ()))
            if end or visible:
                providers = frozenset()
            if providers != ALL_PROVIDERS:
                allowed[user] = providers
            if flags:
                key = (id(delivery.payload), flags)
                payload = encoded.get(key)
                if payload is None:
                    # The payload is one msgspec-encoded JSON object: the fields go before its closing brace.
                    payload = encoded[key] = delivery.payload[:-1] + flags + b"}"
                delivery = dataclasses.replace(delivery, payload=payload)
            result.append(delivery)
        if held and hold:
            await self._hold(held)
        return Applied(result, allowed)

    async def _hold(self, held: dict[str, tuple[int, frozenset[str]]]) -> None:
        """Count the items kept from pushes, for each user's one digest at their quiet period's end."""
        by_shape: dict[tuple[int, tuple[str, ...]], list[str]] = {}
        for user, (end, providers) in held.items():
            by_shape.setdefault((end, tuple(sorted(providers))), []).append(user)
        async with self.db.write() as conn:
            for (end, providers), users in by_shape.items():
                await conn.execute(update(preferences).where(self.db.among(preferences.c.user_id, users)).values(
                    held=preferences.c.held + 1, digest_at=end, held_channels=list(providers)))

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_seconds)
            try:
                await self.send_due_digests()
            except Exception:  # noqa: BLE001 - the next round tries again; nothing is lost but time
                log.exception("sending quiet-hours digests failed")

    async def send_due_digests(self) -> int:
        """One digest per user whose quiet period is over; returns the pushes queued."""
        now = now_ms()
        async with self.db.read() as conn:
            due = (await conn.execute(select(preferences.c.user_id, preferences.c.digest_at).where(
                preferences.c.digest_at <= now).limit(500))).all()
        queued = 0
        for user_id, digest_at in due:
            own = await self.get(user_id)
            later = _quiet_end(own, now)
            async with self.db.write() as conn:
                claim = update(preferences).where(preferences.c.user_id == user_id,
                                                  preferences.c.digest_at == digest_at)
                if later is not None:  # quiet again, or longer (do not disturb extended): wait for the new end
                    await conn.execute(claim.values(digest_at=later))
                    continue
                won = (await conn.execute(claim.values(held=0, digest_at=None, held_channels=None))).rowcount
            if won and own.held and self.send_digest is not None and not await self.visibility.visible([user_id]):
                queued += await self.send_digest(user_id, own.held, frozenset(own.held_channels))
        return queued


def _quiet_end(own: UserPreferences, now: int) -> int | None:
    """``own.quiet_end``, where a stored zone that tzdata no longer knows means "not quiet" for that user alone."""
    try:
        return own.quiet_end(now)
    except HeraldError:
        log.warning("unusable quiet hours stored (zone %r): treated as not quiet", own.time_zone)
        return None
