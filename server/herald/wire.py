"""The public wire format: request bodies, the notification as browsers see it, and ids.

camelCase everywhere on the wire (``rename="camel"``); snake_case inside.
Validation that msgspec can express lives in the types; the rest (exactly one
target, encoded size of ``data``) in ``check_publish``.
"""
from __future__ import annotations

import os
import re
import time
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from herald.errors import invalid_cursor, invalid_request
from herald.push.endpoint import check_url

Priority = Literal["urgent", "high", "medium", "low"]
# Lower rank is written first when several items wait for one connection.
PRIORITY_RANK: dict[str, int] = {"urgent": 0, "high": 1, "medium": 2, "low": 3}

# Product user ids, group and topic names: printable, no spaces, no separators
# that could be confused in paths, headers or Redis channel names.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@+\-]{0,127}$"
Name = Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)]
NAME_RE = re.compile(NAME_PATTERN)

MAX_USERS = 10_000
MAX_DATA_BYTES = 8 * 1024
MAX_TTL_SECONDS = 30 * 24 * 3600  # expiry: at most 30 days ahead, by ttlSeconds or expiresAt
MAX_REPLACE_KEY = 200
MAX_IMAGE_URL = 2048
# C0, DEL and C1: a key that is shown nowhere still travels in headers and logs.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class Target(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    users: Annotated[list[Name], msgspec.Meta(min_length=1, max_length=MAX_USERS)] | None = None
    group: Name | None = None
    topic: Name | None = None
    all: bool | None = None
    channel: Name | None = None
    """A live channel: only with ``"persist": false``."""


class Action(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A button on the item (center, toast, system notification); clicking records ``id`` on the item."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
    url: Annotated[str, msgspec.Meta(max_length=2048, pattern=r"^(https?://|/)")] | None = None
    style: Literal["primary", "secondary"] = "secondary"


MAX_ACTIONS = 3
Category = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class PublishRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    to: Target
    type: Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:\-]+$")]
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    body: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    priority: Priority = "medium"
    group_key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    url: Annotated[str, msgspec.Meta(max_length=2048)] | None = None
    data: dict[str, Any] | None = None
    actor: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None
    idempotency_key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    persist: bool = True
    """False: a live event for a channel's current subscribers, kept nowhere (docs/transports.md)."""
    replace_key: str | None = None
    """Per recipient: the user's item with this key is updated in place (1-200 characters, no control characters)."""
    silent: bool = False
    """Update state only: no toast, no system notification, no push; events carry ``"silent": true``."""
    expires_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None
    """RFC 3339 time after which the item leaves every inbox (at most 30 days ahead); not with ``ttlSeconds``."""
    ttl_seconds: Annotated[int, msgspec.Meta(ge=1, le=MAX_TTL_SECONDS)] | None = None
    """Seconds after which the item leaves every inbox (1 to 30 days); not with ``expiresAt``."""
    send_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None
    """RFC 3339 with an offset: deliver then, not now (up to 30 days ahead; docs/scheduling.md)."""
    avatar_url: Annotated[str, msgspec.Meta(max_length=MAX_IMAGE_URL)] | None = None
    """Who or what the item is from, shown beside it: an https URL on a public host (``check_images``)."""
    image_url: Annotated[str, msgspec.Meta(max_length=MAX_IMAGE_URL)] | None = None
    """A picture shown with the item and its system notification: an https URL on a public host."""
    category: Category | None = None
    """The item's category: the bell's tabs and the counts can group by it."""
    actions: Annotated[list[Action], msgspec.Meta(max_length=MAX_ACTIONS)] | None = None
    """Up to 3 buttons, ids unique within the item (docs/triage.md)."""


class PublishResponse(msgspec.Struct, rename="camel", omit_defaults=True):
    id: str
    recipients: int | None
    """Inbox items written; null for a live event, whose delivery is best-effort and not counted, and for a
    scheduled one, whose audience is expanded at its time."""
    send_at: str | None = None
    """A scheduled publish: when it will be sent (RFC 3339, UTC, milliseconds)."""
    scheduled: bool = False
    """True: accepted for later; ``id`` is the id the notification will have when it is sent."""


class LiveEvent(msgspec.Struct, rename="camel"):
    """A live channel's event as subscribers see it: no inbox, no cursor, no read state."""

    id: str
    channel: str
    type: str
    title: str
    body: str
    priority: str
    timestamp: int
    url: str | None
    data: dict[str, Any] | None
    avatar_url: str | msgspec.UnsetType = msgspec.UNSET
    image_url: str | msgspec.UnsetType = msgspec.UNSET


def check_publish(request: PublishRequest, *, production: bool = True) -> None:
    """The rules a JSON schema cannot say: exactly one target, ``data`` size, a safe ``url`` and pictures.

    ``production`` False lets pictures point at loopback (tests); callers that do not know say True.
    """
    target = request.to
    chosen = [name for name in ("users", "group", "topic", "channel") if getattr(target, name) is not None]
    if target.all is not None:
        if target.all is not True:
            raise invalid_request('"to.all" must be true when given.')
        chosen.append("all")
    if len(chosen) != 1:
        raise invalid_request('"to" must have exactly one of "users", "group", "topic", "all" or "channel".')
    if (target.channel is None) != request.persist:
        raise invalid_request('A live channel takes "persist": false, and "persist": false takes "to.channel".')
    if not request.persist and (request.group_key is not None or request.idempotency_key is not None):
        raise invalid_request('"groupKey" and "idempotencyKey" need the inbox: a live event has neither.')
    if not request.persist and request.send_at is not None:
        raise invalid_request('"sendAt" needs the inbox: a live channel event is sent now or never.')
    check_lifecycle(request)
    if request.send_at is not None and request.expires_at is not None and request.expires_at <= request.send_at:
        raise invalid_request('"expiresAt" must come after "sendAt": the item would expire before it is sent.')
    if request.data is not None and len(msgspec.json.encode(request.data)) > MAX_DATA_BYTES:
        raise invalid_request(f'"data" must be at most {MAX_DATA_BYTES} bytes when encoded as JSON.')
    if request.url is not None and not safe_url(request.url):
        raise invalid_request('"url" must be a relative path or an http(s) URL.')
    for name in ("title", "body", "group_key", "url", "actor", "idempotency_key"):
        value = getattr(request, name)
        if value is not None and "\x00" in value:
            # PostgreSQL cannot store NUL in text, and no title needs one: refused on every database alike.
            raise invalid_request(f'"{_CAMEL[name]}" must not contain NUL characters.')
    check_images(request, production=production)


def check_images(request: PublishRequest, *, production: bool) -> None:
    """``avatarUrl`` and ``imageUrl`` are fetched by every browser that shows the item, so they are checked
    as push endpoints are (push/endpoint.py): https on a public host; loopback, http too, in development only.
    A picture on a private or link-local host would make each recipient's browser probe that network."""
    for field, url in (("avatarUrl", request.avatar_url), ("imageUrl", request.image_url)):
        if url is not None:
            check_url(url, production=production, field=field)


def check_replace_key(key: object) -> str:
    """A replace key as publish and retract take it: a string of 1-200 characters, no control characters."""
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_REPLACE_KEY:
        raise invalid_request(f'"replaceKey" must be a string of 1 to {MAX_REPLACE_KEY} characters.')
    if CONTROL_RE.search(key):
        raise invalid_request('"replaceKey" must not contain control characters.')
    return key


class RetractRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    replace_key: str
    to: Target


class RetractResponse(msgspec.Struct, rename="camel"):
    removed: int
    """Inbox items removed (one per recipient that had it)."""


def check_retract(request: RetractRequest) -> None:
    check_replace_key(request.replace_key)
    target = request.to
    chosen = [name for name in ("users", "group", "topic") if getattr(target, name) is not None]
    if target.all is not None:
        if target.all is not True:
            raise invalid_request('"to.all" must be true when given.')
        chosen.append("all")
    if target.channel is not None or len(chosen) != 1:
        raise invalid_request('"to" must have exactly one of "users", "group", "topic" or "all".')


def check_lifecycle(request: PublishRequest) -> None:
    """Replace key, expiry and silence: what they combine with, and expiry in range."""
    if request.replace_key is not None:
        check_replace_key(request.replace_key)
        if request.group_key is not None:
            # Aggregating many actors and replacing one item are two different updates in place.
            raise invalid_request('Give "replaceKey" or "groupKey", not both.')
    if not request.persist and (request.replace_key is not None or request.expires_at is not None
                                or request.ttl_seconds is not None or request.silent):
        raise invalid_request('"replaceKey", "silent", "expiresAt" and "ttlSeconds" need the inbox: '
                              'a live event has none of them.')
    if request.actions and len({action.id for action in request.actions}) != len(request.actions):
        raise invalid_request('Each of "actions" needs its own "id".')
    if not request.persist and (request.actions or request.category):
        raise invalid_request('"actions" and "category" need the inbox: a live event has none.')
    if request.expires_at is not None and request.ttl_seconds is not None:
        raise invalid_request('Give "expiresAt" or "ttlSeconds", not both.')
    if request.expires_at is not None:
        ahead = request.expires_at.timestamp() - time.time()
        if ahead <= 0:
            raise invalid_request('"expiresAt" is in the past.')
        if ahead > MAX_TTL_SECONDS:
            raise invalid_request('"expiresAt" must be at most 30 days ahead.')


def expiry_ms(request: PublishRequest, now: int) -> int | None:
    """When the published item expires, in milliseconds since the epoch, or None."""
    if request.ttl_seconds is not None:
        return now + request.ttl_seconds * 1000
    if request.expires_at is not None:
        return int(request.expires_at.timestamp() * 1000)
    return None


_CAMEL = {"title": "title", "body": "body", "group_key": "groupKey", "url": "url", "actor": "actor",
          "idempotency_key": "idempotencyKey"}


def safe_url(url: str) -> bool:
    # A notification's url is opened on click: refuse javascript:, data: and friends.
    if url.startswith("/") and not url.startswith("//"):
        return True
    return url.startswith(("https://", "http://")) and not any(ch in url for ch in "\r\n\t ")


class Notification(msgspec.Struct, rename="camel"):
    """One inbox item as the browser sees it (design section 4)."""

    id: str
    type: str
    title: str
    body: str
    priority: str
    timestamp: int
    read: bool
    group_key: str | None
    url: str | None
    data: dict[str, Any] | None
    group_count: int = 1
    actors: list[str] | None = None
    # Unset (absent on the wire) unless given, so items without them look as they always did.
    replace_key: str | msgspec.UnsetType = msgspec.UNSET
    silent: bool | msgspec.UnsetType = msgspec.UNSET
    avatar_url: str | msgspec.UnsetType = msgspec.UNSET
    image_url: str | msgspec.UnsetType = msgspec.UNSET
    # Triage (triage.py), absent when unset: a plain item looks as it always did.
    category: str | msgspec.UnsetType = msgspec.UNSET
    actions: list[dict[str, Any]] | msgspec.UnsetType = msgspec.UNSET
    seen: bool | msgspec.UnsetType = msgspec.UNSET
    archived: bool | msgspec.UnsetType = msgspec.UNSET
    snoozed_until: int | msgspec.UnsetType = msgspec.UNSET
    action: str | msgspec.UnsetType = msgspec.UNSET
    """The id of the action the user took on it."""
    broadcast: bool | msgspec.UnsetType = msgspec.UNSET
    """True on a broadcast's live frame (broadcasts.py), which carries no cursor: counted as new until the next count."""


encoder = msgspec.json.Encoder()


def change_json(kind: str, cursor: int | None, body: bytes) -> bytes:
    """An inbox change as one JSON object: ``{"type": kind, "cursor": "12", ...body}`` (WebSocket, poll, REST).

    ``body`` is the change's own JSON object (SSE sends it alone as the event's data).
    """
    head = b'{"type":"%b"' % kind.encode() + (b"" if cursor is None else b',"cursor":"%d"' % cursor)
    return head + (b"," + body[1:] if body != b"{}" else b"}")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id() -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, so ids sort by creation time."""
    value = (now_ms() << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


MAX_CURSOR = 2**62
MAX_CHANNELS = 16  # live channels one connection may join


def parse_channels(names: list[str]) -> list[str]:
    """Live channel names a subscriber asks for: each a valid name, at most ``MAX_CHANNELS``; else a 400."""
    if len(names) > MAX_CHANNELS:
        raise invalid_request(f"A connection may join at most {MAX_CHANNELS} live channels.")
    for name in names:
        if not NAME_RE.match(name):
            raise invalid_request(f"{name[:40]!r} is not a channel name.")
    return list(dict.fromkeys(names))


def parse_cursor(value: str | None, name: str) -> int | None:
    """A cursor is the decimal per-user sequence number; anything else is a 400."""
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 19 or int(value) > MAX_CURSOR:
        raise invalid_cursor(f"{name} must be a cursor that Herald issued.")
    return int(value)
