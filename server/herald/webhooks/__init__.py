"""Webhooks out: a producer's backend hears what happened to the notifications its API key sent.

- ``endpoints.py``: the endpoints per API key (URL, event types, signing secret) and their attempts;
- ``emitter.py``: ``emit(...)``, called after a change committed; never waits, never raises;
- ``sender.py``: the background sender (claim, sign, POST, retry with backoff, give up);
- ``signing.py``: the Standard Webhooks signature.

Events: ``delivered`` (a client acknowledged the item, receipts.py), ``read`` (publish.py
``publish_read``), ``push.failed`` (a push that failed for good, push/sender.py), and
``action`` and ``archived`` for the features that make them; ``ping`` when an operator tests an
endpoint from the admin. Each is queued in the database
(``webhook_deliveries``) and sent at least once, with the same ``webhook-id`` on every attempt.
"""
from __future__ import annotations

from typing import Any

from herald.db import Database
from herald.metrics import Metrics
from herald.settings import Settings
from herald.webhooks.emitter import Emitter
from herald.webhooks.endpoints import EVENTS, EndpointStore
from herald.webhooks.sender import WebhookSender

__all__ = ["EVENTS", "Webhooks"]


class Webhooks:
    """The three parts, built and started together by ``Services``."""

    def __init__(self, settings: Settings, db: Database, metrics: Metrics) -> None:
        self.endpoints = EndpointStore(db, settings.is_production)
        self.sender = WebhookSender(settings, db, metrics)
        self.emitter = Emitter(db, metrics, self.endpoints, self.sender.wake)

    def wants(self, event_type: str) -> bool:
        return self.emitter.wants(event_type)

    def emit(self, event_type: str, data: dict[str, Any] | None = None, **about: Any) -> None:
        """See ``Emitter.emit``: ``producer=``, or ``notification_id=``, or ``user_id=`` with ``item_id=``."""
        self.emitter.emit(event_type, data, **about)

    async def ping(self, endpoint_id: str) -> bool:
        """Queue a ``ping`` event for one endpoint (the admin's "send a test event"); False if there is no such one."""
        queued = await self.emitter.queue_for(endpoint_id, "ping", {"endpointId": endpoint_id})
        if queued:
            self.sender.wake()
        return queued

    async def start(self) -> None:
        await self.emitter.start()
        await self.sender.start()

    async def stop(self) -> None:
        await self.emitter.stop()
        await self.sender.stop()
