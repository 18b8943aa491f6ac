"""Presence in one process: a visible report counts while it holds and while the user has a connection."""
from __future__ import annotations

import asyncio

from herald.fanout.base import BusEvent
from herald.fanout.memory import InProcessFanout
from herald.presence import MAX_WATCHERS, Visibility


class Sink:
    def offer(self, event: BusEvent) -> None:
        pass

    def resync(self) -> None:
        pass


async def test_visible_needs_a_report_and_a_connection() -> None:
    fanout = InProcessFanout()
    presence = Visibility(fanout, ttl_seconds=60)
    await presence.report("u1", "tab", True)
    assert await presence.visible(["u1"]) == {}  # reported, but no live connection
    fanout.attach("u1", Sink())
    assert await presence.visible(["u1", "u2"]) == {"u1": ["tab"]}
    await presence.report("u1", "tab", False)
    assert await presence.visible(["u1"]) == {}


async def test_a_report_expires() -> None:
    fanout = InProcessFanout()
    fanout.attach("u1", Sink())
    presence = Visibility(fanout, ttl_seconds=0.05)
    await presence.report("u1", "tab", True)
    await asyncio.sleep(0.1)
    assert await presence.visible(["u1"]) == {}


async def test_an_event_names_a_few_watchers_at_most() -> None:
    fanout = InProcessFanout()
    fanout.attach("u1", Sink())
    presence = Visibility(fanout, ttl_seconds=60)
    for n in range(MAX_WATCHERS + 3):
        await presence.report("u1", f"tab{n}", True)
    assert len((await presence.visible(["u1"]))["u1"]) == MAX_WATCHERS
