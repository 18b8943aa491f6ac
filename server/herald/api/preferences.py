"""Preferences over HTTP (docs/preferences.md): the user's own, the producer's defaults, and presence reports.

- ``GET/PUT /api/preferences`` (subscriber): time zone, quiet hours, do not disturb, channels per category.
  PUT replaces the whole object; each user reads and writes only their own.
- ``GET/PUT /api/preferences/defaults`` (API key): per category, ``critical`` and the channels' defaults;
  PUT sets the categories it names.
- ``POST /api/presence`` (subscriber): ``{"client": "<tab id>", "visible": true}`` from page visibility.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.status_codes import HTTP_204_NO_CONTENT

from herald.api.auth import producer_dependency, services, subscriber_dependency
from herald.api.guards import json_body
from herald.errors import invalid_request
from herald.preferences import CHANNELS, Default, Preferences, UserPreferences, effective, windows, zone
from herald.wire import now_ms

MAX_CATEGORIES = 100
MAX_WINDOWS = 14
MAX_DND_DAYS = 366
Category = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Clock = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["22:00"])]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Channels(msgspec.Struct, rename="camel", forbid_unknown_fields=True, omit_defaults=True):
    """On (true) or off (false) per channel; an absent channel keeps the default."""

    in_app: bool | None = None
    web_push: bool | None = None
    fcm: bool | None = None
    apns: bool | None = None


def _choices(channels: Channels) -> dict[str, bool]:
    return {name: value for name, value in zip(CHANNELS, (channels.in_app, channels.web_push, channels.fcm,
                                                          channels.apns)) if value is not None}


def _channels(choices: dict[str, bool]) -> Channels:
    return Channels(choices.get("inApp"), choices.get("webPush"), choices.get("fcm"), choices.get("apns"))


class QuietWindow(msgspec.Struct, forbid_unknown_fields=True):
    """Quiet from ``start`` to ``end`` (local, 24-hour) on each of ``days``; an end not after the start: next day."""

    days: Annotated[list[Day], msgspec.Meta(min_length=1, max_length=7)]
    start: Clock
    end: Clock


class PreferencesBody(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    time_zone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    """IANA name, e.g. ``Europe/Berlin``; null: UTC."""
    quiet_hours: Annotated[list[QuietWindow], msgspec.Meta(max_length=MAX_WINDOWS)] = []
    dnd_until: Annotated[datetime, msgspec.Meta(tz=True)] | None = None
    """Do not disturb until then (RFC 3339; at most a year ahead): "snooze all for 1 h / until tomorrow"."""
    categories: Annotated[dict[Category, Channels], msgspec.Meta(max_length=MAX_CATEGORIES)] = {}


class CategoryView(msgspec.Struct, rename="camel"):
    category: str
    critical: bool
    channels: dict[str, bool]
    """What applies: the user's choice, else the producer's default, else on; always on when critical."""


class PreferencesView(msgspec.Struct, rename="camel"):
    time_zone: str | None
    quiet_hours: list[QuietWindow]
    dnd_until: datetime | None
    quiet_until: datetime | None
    """When the quiet period in force now ends; null: not quiet now."""
    categories: dict[str, Channels]
    effective: list[CategoryView]


class CategoryDefault(msgspec.Struct, rename="camel", forbid_unknown_fields=True, omit_defaults=True):
    critical: bool = False
    in_app: bool | None = None
    web_push: bool | None = None
    fcm: bool | None = None
    apns: bool | None = None


class DefaultsBody(msgspec.Struct, forbid_unknown_fields=True):
    categories: Annotated[dict[Category, CategoryDefault], msgspec.Meta(max_length=MAX_CATEGORIES)]


class PresenceBody(msgspec.Struct, forbid_unknown_fields=True):
    client: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
    visible: bool


def _at(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, timezone.utc) if ms else None


async def _view(prefs: Preferences, user_id: str) -> PreferencesView:
    own, defaults = await prefs.get(user_id), await prefs.defaults()
    names = sorted(set(defaults) | set(own.categories))
    return PreferencesView(
        own.time_zone, [msgspec.convert(w, QuietWindow) for w in own.quiet_hours], _at(own.dnd_until),
        _at(own.quiet_end(now_ms())), {name: _channels(own.categories[name]) for name in own.categories},
        [CategoryView(name, defaults[name].critical if name in defaults else False,
                      effective(defaults.get(name), own.categories.get(name))) for name in names])


async def _defaults(prefs: Preferences) -> DefaultsBody:
    return DefaultsBody({name: CategoryDefault(d.critical, *(d.channels.get(c) for c in CHANNELS))
                         for name, d in sorted((await prefs.defaults()).items())})


class PreferencesController(Controller):
    path = "/api/preferences"
    tags = ["preferences"]

    @get("/", dependencies=subscriber_dependency)
    async def read(self, request: Request, user_id: str) -> PreferencesView:
        """The signed-in user's preferences, and what applies per known category."""
        return await _view(services(request).preferences, user_id)

    @put("/", guards=[json_body], dependencies=subscriber_dependency)
    async def write(self, request: Request, user_id: str, data: PreferencesBody) -> PreferencesView:
        """Replace the signed-in user's preferences. 400 for a bad zone, a bad window, or a critical category off."""
        zone(data.time_zone)
        quiet_hours = [msgspec.to_builtins(w) for w in data.quiet_hours]
        windows(quiet_hours)
        if data.dnd_until is not None and data.dnd_until > datetime.now(timezone.utc) + timedelta(days=MAX_DND_DAYS):
            raise invalid_request(f'"dndUntil" must be at most {MAX_DND_DAYS} days ahead.')
        prefs = services(request).preferences
        defaults = await prefs.defaults()
        categories = {name: _choices(channels) for name, channels in data.categories.items()}
        for name, choices in categories.items():
            if name in defaults and defaults[name].critical and not all(choices.values()):
                raise invalid_request(f'"{name}" is a critical category: its channels cannot be turned off.')
        dnd = int(data.dnd_until.timestamp() * 1000) if data.dnd_until is not None else None
        await prefs.save(user_id, UserPreferences(data.time_zone, quiet_hours, dnd,
                                                  {k: v for k, v in categories.items() if v}))
        await services(request).publisher.preferences_saved(user_id)
        return await _view(prefs, user_id)

    @get("/defaults", dependencies=producer_dependency)
    async def read_defaults(self, request: Request, producer: str) -> DefaultsBody:
        """The producer's defaults per category."""
        return await _defaults(services(request).preferences)

    @put("/defaults", guards=[json_body], dependencies=producer_dependency)
    async def write_defaults(self, request: Request, producer: str, data: DefaultsBody) -> DefaultsBody:
        """Set the defaults of the categories named; a critical one cannot default a channel to off."""
        given = {}
        for name, d in data.categories.items():
            choices = _choices(_channels(dict(zip(CHANNELS, (d.in_app, d.web_push, d.fcm, d.apns)))))
            if d.critical and not all(choices.values()):
                raise invalid_request(f'"{name}" is critical: its channels cannot default to off.')
            given[name] = Default(d.critical, choices)
        await services(request).preferences.set_defaults(given)
        return await _defaults(services(request).preferences)


@post("/api/presence", status_code=HTTP_204_NO_CONTENT, guards=[json_body], dependencies=subscriber_dependency,
      tags=["preferences"])
async def report_presence(request: Request, user_id: str, data: PresenceBody) -> None:
    """This tab's page visibility: while one is visible, new items raise no push and no system notification."""
    # Litestar converts bodies leniently (0 becomes false); a visibility given as a number is a client bug,
    # and a 400 says so rather than reading it as "hidden".
    try:
        data = msgspec.json.decode(await request.body(), type=PresenceBody)
    except msgspec.ValidationError as exc:
        raise invalid_request(f"Invalid presence report: {exc}.") from None
    await services(request).preferences.visibility.report(user_id, data.client, data.visible)
