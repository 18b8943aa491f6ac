"""Retention: what is older than ``HERALD_RETENTION_SECONDS`` leaves the inbox, and old idempotency keys go.

A stream resuming from before the pruned items gets ``reset`` (the inbox
remembers the highest pruned sequence per user, see inbox.py).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from herald.inbox import Inbox
from herald.metrics import Metrics
from herald.publish import Publisher
from herald.tasks import repeat
from herald.wire import now_ms

if TYPE_CHECKING:
    from herald.push.service import PushService

log = logging.getLogger("herald")


class Retention:
    def __init__(self, inbox: Inbox, publisher: Publisher, metrics: Metrics, *, retention_seconds: int,
                 interval_seconds: float, push: PushService | None = None) -> None:
        self.inbox = inbox
        self.push = push  # what it remembers of pushed items goes with them
        self.publisher = publisher
        self.metrics = metrics
        self.retention_seconds = retention_seconds
        self.interval_seconds = interval_seconds

    async def prune_once(self) -> int:
        cutoff = now_ms() - self.retention_seconds * 1000
        removed = await self.inbox.prune(cutoff)
        if self.publisher.broadcasts is not None:  # an inbox that never copied them is past retention for them too
            await self.publisher.broadcasts.prune(cutoff)
        await self.publisher.prune_keys()
        if self.push is not None:
            await self.push.prune(cutoff)
        self.metrics.pruned.inc(removed)
        return removed

    async def run_forever(self) -> None:
        await repeat("retention prune", self.prune_once, self.interval_seconds, self.metrics.database_errors.labels("prune").inc)
