"""What Herald sends and takes, as typed Python values (design sections 4-6).

Plain dataclasses over the standard library's ``json``: the package has no
dependencies, so that the same wheel runs in Pyodide. The wire is camelCase;
these are snake_case, and ``from_wire`` is the only place that maps the two.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal, Mapping

Priority = Literal["urgent", "high", "medium", "low"]
PRIORITIES: tuple[Priority, ...] = ("urgent", "high", "medium", "low")


@dataclass(frozen=True, slots=True)
class Target:
    """Whom a publish reaches: exactly one of users, a group, a topic, everyone, or a live channel.

    Build one with the class methods (``Target.users("u1", "u2")``); the wire allows no mix.
    """

    wire: Mapping[str, Any]

    @classmethod
    def users(cls, *user_ids: str) -> Target:
        """These users' inboxes (1 to 10,000 ids)."""
        return cls({"users": list(user_ids)})

    @classmethod
    def group(cls, name: str) -> Target:
        """Every member of a group kept with ``put_group``."""
        return cls({"group": name})

    @classmethod
    def topic(cls, name: str) -> Target:
        """Every follower of a topic (``follow``)."""
        return cls({"topic": name})

    @classmethod
    def all(cls) -> Target:
        """Every user Herald knows."""
        return cls({"all": True})

    @classmethod
    def channel(cls, name: str) -> Target:
        """A live channel's current subscribers: delivered live, stored nowhere (``"persist": false``)."""
        return cls({"channel": name})

    @property
    def is_live(self) -> bool:
        return "channel" in self.wire


@dataclass(frozen=True, slots=True)
class Notification:
    """One inbox item (design section 4). ``timestamp`` is milliseconds since the epoch, set by Herald."""

    id: str
    type: str
    title: str
    body: str
    priority: str
    timestamp: int
    read: bool
    group_key: str | None = None
    url: str | None = None
    data: dict[str, Any] | None = None
    group_count: int = 1
    """Items collapsed into this one by ``groupKey``; a group grows in place under the same ``id``."""
    actors: list[str] | None = None
    quiet: bool = False
    """A live-delivery hint: over the user's per-minute limit, show it without a toast."""
    replace_key: str | None = None
    """A later publish with this key updates the item in place, under the same ``id``."""
    silent: bool = False
    """A state update: list it, alert for nothing."""

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> Notification:
        return cls(
            id=raw["id"], type=raw["type"], title=raw["title"], body=raw.get("body", ""),
            priority=raw.get("priority", "medium"), timestamp=raw["timestamp"], read=bool(raw.get("read")),
            group_key=raw.get("groupKey"), url=raw.get("url"), data=raw.get("data"),
            group_count=raw.get("groupCount", 1), actors=raw.get("actors"), quiet=bool(raw.get("quiet")),
            replace_key=raw.get("replaceKey"), silent=bool(raw.get("silent")),
        )

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp / 1000, timezone.utc)


@dataclass(frozen=True, slots=True)
class InboxPage:
    """``GET /api/notifications``: items, the unread count, and the cursor of the newest item."""

    items: list[Notification]
    unread_count: int
    cursor: str
    next_before: str | None
    """Pass as ``before=`` for the next older page; None when there is none."""
    changes: tuple[Mapping[str, Any], ...] = ()
    """A ``since`` page's inbox changes among the same cursors, oldest first (``{"type": "read", "cursor", ...}``)."""

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> InboxPage:
        return cls([Notification.from_wire(item) for item in raw["items"]], raw["unreadCount"], raw["cursor"],
                   raw.get("nextBefore"), tuple(raw.get("changes", ())))


@dataclass(frozen=True, slots=True)
class PublishResult:
    id: str
    recipients: int | None
    """Inbox items written; None for a live channel event, whose delivery is best-effort."""
    idempotency_key: str | None
    """The key this publish went with (the client makes one when none is given); None for a live event."""
    send_at: datetime | None = None
    """When a scheduled publish goes out (``send_at`` on publish); None for one sent at once."""


@dataclass(frozen=True, slots=True)
class Token:
    """A subscriber token, minted for one of the product's users."""

    token: str
    expires_at: datetime

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> Token:
        return cls(raw["token"], parse_time(raw["expiresAt"]))


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    users: list[str]


@dataclass(frozen=True, slots=True)
class Session:
    """The browser session cookie Herald set (the cookie itself is HttpOnly: Python never sees it)."""

    user_id: str
    expires_at: datetime

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> Session:
        return cls(raw["userId"], parse_time(raw["expiresAt"]))


# Stream events other than notifications (design section 6).

@dataclass(frozen=True, slots=True)
class Ready:
    """A connection opened: the cursor it resumes from, and the unread count at that cursor."""

    cursor: str
    unread_count: int


@dataclass(frozen=True, slots=True)
class ReadChange:
    """Read state changed, here or on another tab or device. ``all``: every item is read now."""

    ids: list[str]
    all: bool
    unread_count: int


@dataclass(frozen=True, slots=True)
class Retracted:
    """Items left the inbox: retracted by the producer (``reason`` "retracted") or expired ("expired")."""

    ids: list[str]
    reason: str
    unread_count: int


@dataclass(frozen=True, slots=True)
class Reset:
    """The cursor was older than Herald keeps: what came between is gone; ``page`` is the inbox reloaded."""

    cursor: str
    page: InboxPage


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """An event of a live channel (``Target.channel``): no inbox, no cursor, never replayed."""

    id: str
    channel: str
    type: str
    title: str
    body: str
    priority: str
    timestamp: int
    url: str | None = None
    data: dict[str, Any] | None = None

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> LiveEvent:
        return cls(raw["id"], raw["channel"], raw["type"], raw["title"], raw.get("body", ""),
                   raw.get("priority", "medium"), raw["timestamp"], raw.get("url"), raw.get("data"))


Event = Notification | Ready | ReadChange | Retracted | Reset | LiveEvent
"""What ``Subscriber.events()`` yields."""


def parse_time(value: str) -> datetime:
    # Herald writes ISO 8601 with a "Z"; fromisoformat takes "Z" only from Python 3.11 on, which is our floor.
    return datetime.fromisoformat(value)
