"""The embedded default bus: one process only.

Publishing is a direct hand-off to this process's listeners. A second Herald
process would not see these events: set ``HERALD_REDIS_URL`` to run more than
one (``redis.RedisFanout``).
"""
from __future__ import annotations

from typing import Sequence

from herald.fanout.base import BusEvent, Fanout


class InProcessFanout(Fanout):
    async def publish(self, events: Sequence[BusEvent]) -> None:
        self.deliver_local(events)
