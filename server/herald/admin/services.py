"""What the admin console keeps while the app runs, and its one background loop.

Built by ``Services.build`` and started with the app; the loop samples the
metrics registry for the dashboard and writes the delivery counts the
publisher reported (``deliveries``, plugged into the publisher as its
recorder) in small batches, so neither a publish nor a sample ever waits on
the other.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from herald.admin.accounts import AdminAccounts, LoginThrottle
from herald.admin.delivery_log import DeliveryLog
from herald.admin.sampler import MetricsSampler
from herald.db import Database
from herald.fanout.base import Fanout
from herald.metrics import Metrics
from herald.tasks import cancel

FLUSH_SECONDS = 1.0

log = logging.getLogger("herald.admin")


class AdminServices:
    def __init__(self, db: Database, fanout: Fanout, metrics: Metrics, sample_seconds: float = 5.0) -> None:
        self.accounts = AdminAccounts(db)
        self.throttle = LoginThrottle()
        self.deliveries = DeliveryLog(db, fanout)
        self.sampler = MetricsSampler(metrics.registry, interval_seconds=sample_seconds)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.sampler.sample()
        self._task = asyncio.create_task(self._run(), name="herald-admin")

    async def stop(self) -> None:
        await cancel([self._task])
        with contextlib.suppress(Exception):  # best effort: these are statistics, the database may be gone
            await self.flush()

    async def flush(self) -> None:
        await self.deliveries.flush()

    async def _run(self) -> None:
        next_sample = time.monotonic() + self.sampler.interval_seconds
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - statistics only; the next round writes what comes next
                log.exception("writing admin delivery counts failed")
            if time.monotonic() >= next_sample:
                next_sample += self.sampler.interval_seconds
                self.sampler.sample()
