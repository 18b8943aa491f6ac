"""The push provider interface: what the one push pipeline asks of Web Push, FCM and APNs.

The pipeline (service.py queues, sender.py drains) owns everything the three
share: the durable ``push_jobs`` queue, the "hold until acked" rule, the
digest, leasing, retries with backoff and jitter, ``Retry-After``, removing
dead targets and the metrics. A provider only knows its own protocol:

- ``prepare*`` turn a notification (or a digest, or a read-state update) into
  what this service sends, once per notification for all its targets; the
  result is stored in the queue row, so it must be plain text;
- ``send`` makes one request for one queued push and says what happened as an
  ``Outcome``. It never raises for anything the service answers or for a
  network failure: those are outcomes (``retry`` for what may work later),
  so one bad push never fails its batch.

Implementations: ``webpush.WebPushProvider`` (RFC 8030/8291/8292, browsers),
``fcm.FcmProvider`` (FCM HTTP v1, Android) and ``apns.ApnsProvider`` (APNs
token auth over HTTP/2, iOS). Each is off until configured (service.py).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import msgspec

ProviderName = Literal["webpush", "fcm", "apns"]
# push_jobs.item_id of the pushes that stand for no single inbox item: never skipped as read or acked.
DIGEST_ITEM = "herald:digest"
READ_ITEM = "herald:read"
RETRACT_ITEM = "herald:retract"


class Subscription(msgspec.Struct, frozen=True):
    """A browser's Web Push subscription (``PushSubscription.toJSON()``)."""

    endpoint: str
    p256dh: str
    auth: str


class Device(msgspec.Struct, frozen=True):
    """A phone app's registration: ``token`` from FCM or APNs, ``app`` its package name or bundle id."""

    platform: str
    token: str
    app: str


@dataclass(frozen=True, slots=True)
class Prepared:
    """What one provider sends for one notification: the body, its priority value and its collapse key.

    ``urgency`` and ``topic`` mean what the provider makes of them (the RFC 8030
    ``Urgency``, FCM's Android priority, ``apns-priority``; ``Topic``,
    ``collapse_key``, ``apns-collapse-id``); the queue only stores them.
    """

    payload: str
    urgency: str
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """One leased ``push_jobs`` row with its target."""

    id: int
    provider: str
    target_id: str  # push_subscriptions.id or devices.id
    user_id: str
    item_id: str
    notification_id: str | None
    payload: str
    urgency: str
    topic: str | None
    attempts: int
    created_at: int
    expires_at: int
    target: Subscription | Device


OutcomeKind = Literal["delivered", "retry", "gone", "rejected", "refused", "expired", "gave_up", "read", "acked",
                      "retracted"]
# Answered for good, for the admin's per-channel counts (read and acked were never sent: neither).
FAILED = frozenset({"gone", "rejected", "refused", "expired", "gave_up"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one attempt.

    delivered: the service accepted it; retry: may work later (429, 5xx, network);
    gone: the target no longer exists (it is deleted); rejected: the service
    refused this push for good; refused: Herald would not send it; expired and
    gave_up: out of TTL or attempts; read and acked: not sent, the user already
    had it. ``reason`` is the service's own word for a failure (``Unregistered``,
    ``QUOTA_EXCEEDED``), shown in the admin console.
    """

    job: Job
    kind: OutcomeKind
    retry_after_seconds: float | None = None
    reason: str | None = None


class Provider(ABC):
    name: ClassVar[ProviderName]
    concurrency: ClassVar[int] = 16
    """Requests in flight at once from one process."""

    async def start(self) -> None:
        """Open connections or sessions (called once, inside the running loop)."""

    async def stop(self) -> None:
        """Close them."""

    @abstractmethod
    def prepare(self, item: dict[str, Any]) -> Prepared:
        """The push for one inbox item (the wire JSON of design section 4)."""

    @abstractmethod
    def prepare_digest(self, unread: int, timestamp: int, title: str | None = None) -> Prepared:
        """The push that stands for many quiet items: "N new notifications", or ``title``."""

    def prepare_read(self, item_ids: list[str], everything: bool) -> Prepared | None:
        """A silent update telling the app these items were read elsewhere; None: this service has no silent push."""
        return None

    def prepare_retract(self, item_ids: list[str]) -> Prepared | None:
        """An update telling the app or worker to remove these items' notifications; None: this service cannot."""
        return None

    @abstractmethod
    async def send(self, job: Job) -> Outcome:
        """Send one push; never raises for the service's answers or network failures (see the module docstring)."""


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds; an HTTP date (rare from push services) falls back to the backoff."""
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
