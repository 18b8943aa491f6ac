"""The Redis bus in-process, against a private redis-server: what its listeners see when the link breaks."""
from __future__ import annotations

import pytest
import redis.asyncio as redis
from redis.exceptions import RedisError

from herald.fanout.base import BusEvent
from herald.fanout.redis import RedisFanout, decode_batch, encode_batch
from tests.eventually import eventually_async
from tests.herald_server import RedisServer


class Recorder:
    def __init__(self) -> None:
        self.offered: list[BusEvent] = []
        self.resyncs = 0

    def offer(self, event: BusEvent) -> None:
        self.offered.append(event)

    def resync(self) -> None:
        self.resyncs += 1


def test_a_batch_carries_a_shared_payload_once() -> None:
    payload = b'{"title":"viral"}'
    events = [BusEvent("notification", f"u{i}", i + 1, 2, payload, 1.5) for i in range(3)]
    data = encode_batch(events)
    assert data.count(payload) == 1
    assert decode_batch(data) == events


async def test_a_dropped_subscription_makes_every_listener_re_read_its_inbox(redis_server: RedisServer) -> None:
    # CLIENT KILL drops only the pub/sub connection while Redis stays up: redis-py's retry then
    # subscribes again by itself, and events published in between reached no one here.
    fanout = RedisFanout(redis_server.url)
    await fanout.start()
    admin = redis.Redis.from_url(redis_server.url)
    try:
        listener = Recorder()
        fanout.attach("ann", listener)
        event = BusEvent("notification", "ann", 1, 2, b"{}")
        await fanout.publish([event])
        await eventually_async(lambda: listener.offered == [event])
        assert listener.resyncs == 0, "an unbroken subscription asks for no re-read"

        assert await admin.client_kill_filter(_type="pubsub") == 1
        await eventually_async(lambda: listener.resyncs == 1)
        later = BusEvent("notification", "ann", 2, 2, b"{}")
        await fanout.publish([later])
        await eventually_async(lambda: listener.offered == [event, later])
    finally:
        await admin.aclose()
        await fanout.stop()


async def test_redis_gone_then_back_resyncs_and_delivers_again(redis_server: RedisServer) -> None:
    fanout = RedisFanout(redis_server.url)
    await fanout.start()
    try:
        listener = Recorder()
        fanout.attach("bo", listener)
        redis_server.stop()
        await eventually_async(lambda: not fanout.connected.is_set())
        with pytest.raises((ConnectionError, RedisError)):
            await fanout.ping()
        redis_server.start()
        await eventually_async(lambda: fanout.connected.is_set() and listener.resyncs == 1, timeout=20)
        await fanout.ping()
        back = BusEvent("notification", "bo", 7, 2, b"{}")
        await fanout.publish([back])
        await eventually_async(lambda: listener.offered == [back])
    finally:
        await fanout.stop()
