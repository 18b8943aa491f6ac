"""The bus contract (herald/fanout/base.py), one suite over both implementations.

``InProcessFanout`` in this process, and ``RedisFanout`` against the shared
Redis at 127.0.0.1:6379 on a channel of each test's own: what a listener is
offered must not depend on which bus carries it.
"""
from __future__ import annotations

import asyncio
import secrets
from typing import AsyncIterator

import pytest

from herald.fanout.base import BusEvent, Fanout
from herald.fanout.memory import InProcessFanout
from herald.fanout.redis import RedisFanout
from tests.eventually import eventually_async

SHARED_REDIS = "redis://127.0.0.1:6379/0"


class Recorder:
    """A listener that keeps what it was offered."""

    def __init__(self) -> None:
        self.offered: list[BusEvent] = []
        self.resyncs = 0

    def offer(self, event: BusEvent) -> None:
        self.offered.append(event)

    def resync(self) -> None:
        self.resyncs += 1


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Fanout]:
    made: Fanout = InProcessFanout() if request.param == "memory" else RedisFanout(
        SHARED_REDIS, channel=f"herald:test:{secrets.token_hex(6)}")
    await made.start()
    if isinstance(made, RedisFanout):
        assert made.connected.is_set(), "the shared Redis at 127.0.0.1:6379 is not reachable"
    yield made
    await made.stop()


async def settle(bus: Fanout, listener: Recorder, count: int) -> None:
    """Wait until ``listener`` holds ``count`` events (a Redis round trip), then a little longer for strays."""
    await eventually_async(lambda: len(listener.offered) >= count)
    await asyncio.sleep(0.05)


def event(kind: str, key: str, seq: int = 0, payload: bytes = b"{}") -> BusEvent:
    return BusEvent(kind, key, seq, 2, payload, 1.0)  # type: ignore[arg-type]


async def test_an_event_reaches_every_listener_of_its_user_and_no_one_else(bus: Fanout) -> None:
    tab, phone, stranger = Recorder(), Recorder(), Recorder()
    bus.attach("ann", tab)
    bus.attach("ann", phone)
    bus.attach("bob", stranger)
    await bus.publish([event("notification", "ann", 1, b'{"t":1}')])
    await settle(bus, tab, 1)
    await settle(bus, phone, 1)
    assert tab.offered == phone.offered == [event("notification", "ann", 1, b'{"t":1}')]
    assert stranger.offered == []


async def test_events_of_one_publish_arrive_in_the_order_given_with_their_fields(bus: Fanout) -> None:
    listener = Recorder()
    bus.attach("ann", listener)
    batch = [event("notification", "ann", 1), event("read", "ann", 0, b'{"all":true,"unreadCount":0}'),
             event("notification", "ann", 2)]
    await bus.publish(batch)
    await settle(bus, listener, 3)
    assert listener.offered == batch


async def test_one_payload_shared_by_many_recipients_arrives_whole_for_each(bus: Fanout) -> None:
    payload = b'{"title":"' + b"x" * 10_000 + b'"}'
    listeners = {f"u{i}": Recorder() for i in range(50)}
    for user, listener in listeners.items():
        bus.attach(user, listener)
    await bus.publish([event("notification", user, 7, payload) for user in listeners])
    await eventually_async(lambda: all(listener.offered for listener in listeners.values()))
    await asyncio.sleep(0.05)
    assert all([e.payload for e in listener.offered] == [payload] for listener in listeners.values())


async def test_a_detached_listener_is_offered_nothing_more(bus: Fanout) -> None:
    listener, other = Recorder(), Recorder()
    bus.attach("ann", listener)
    bus.attach("ann", other)
    bus.detach("ann", listener)
    bus.detach("ann", listener)  # twice: a close can race a limit eviction
    await bus.publish([event("notification", "ann", 1)])
    await settle(bus, other, 1)
    assert listener.offered == []
    assert bus.connections == 1


async def test_live_channel_events_reach_who_joined_the_channel_only(bus: Fanout) -> None:
    joined, left, elsewhere = Recorder(), Recorder(), Recorder()
    bus.join("prices", joined)
    bus.join("prices", left)
    bus.leave("prices", left)
    bus.join("weather", elsewhere)
    bus.attach("prices", elsewhere)  # a user who happens to share the channel's name gets no channel event
    await bus.publish([event("channel", "prices", 0, b'{"p":1}')])
    await settle(bus, joined, 1)
    assert [e.payload for e in joined.offered] == [b'{"p":1}']
    assert left.offered == elsewhere.offered == []


async def test_online_names_the_users_with_a_listener(bus: Fanout) -> None:
    # Names of this test's own: other nodes on the shared Redis may hold an "ann".
    ann, bob, cid = (f"{name}-{secrets.token_hex(4)}" for name in ("ann", "bob", "cid"))
    gone = Recorder()
    bus.attach(ann, Recorder())
    bus.attach(bob, gone)
    bus.detach(bob, gone)
    assert await bus.online([ann, bob, cid]) == {ann}
    # Presence across nodes is written in batches a few milliseconds later.
    presences = []

    async def counted() -> bool:
        presences.append(await bus.presence())
        return presences[-1].users >= 1 and 1 in presences[-1].nodes.values()

    deadline = asyncio.get_running_loop().time() + 5
    while not await counted():
        assert asyncio.get_running_loop().time() < deadline, presences[-1]
        await asyncio.sleep(0.02)


async def test_resync_reaches_every_local_listener(bus: Fanout) -> None:
    listeners = [Recorder() for _ in range(3)]
    for user, listener in zip(("ann", "ann", "bob"), listeners):
        bus.attach(user, listener)
    bus.resync_local()
    assert [listener.resyncs for listener in listeners] == [1, 1, 1]


async def test_ping_answers_while_the_bus_can_carry_events(bus: Fanout) -> None:
    await bus.ping()


async def test_stopping_just_after_a_listener_came_ends_at_once(bus: Fanout) -> None:
    # The attach wakes the presence loop as stop() cancels it: on Python 3.11 a wait_for there
    # swallowed the cancellation (python/cpython#86296) and stop() never returned.
    bus.attach(f"ann-{secrets.token_hex(4)}", Recorder())
    async with asyncio.timeout(3):
        await bus.stop()
