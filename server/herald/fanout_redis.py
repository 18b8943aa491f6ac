"""Fan-out over Redis pub/sub, for several processes and nodes.

Routing: one publish is one Redis message on one channel, whatever its
fan-out; every node receives it and offers each event to its own listeners
(a dict lookup per event). Per-user channels were the alternative: a 10,000
member group would then cost 10,000 PUBLISH commands, and every connect and
disconnect a SUBSCRIBE round trip. With one channel the cost that grows is
each node reading events for users it does not hold, which stays small for
the node counts one Redis serves (see docs/architecture.md).

A broadcast shares one payload among its recipients, so the message carries
each distinct payload once and the events refer to it by index.

Live-only, like every bus: while Redis is unreachable, publishing still
persists (the publisher logs and moves on) and when the subscription comes
back every local connection re-reads its inbox from its cursor, so nothing
published meanwhile is missed.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Sequence

import msgspec
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from herald.fanout import BusEvent, Fanout

log = logging.getLogger("herald.fanout")

CHANNEL = "herald:events"


class _Batch(msgspec.Struct, array_like=True):
    payloads: list[bytes]
    # (kind, user_id, seq, rank, payload index)
    events: list[tuple[str, str, int, int, int]]


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(_Batch).decode


def encode_batch(events: Sequence[BusEvent]) -> bytes:
    index: dict[int, int] = {}
    payloads: list[bytes] = []
    rows = []
    for event in events:
        slot = index.get(id(event.payload))
        if slot is None:
            slot = index[id(event.payload)] = len(payloads)
            payloads.append(event.payload)
        rows.append((event.kind, event.user_id, event.seq, event.rank, slot))
    return _encode(_Batch(payloads, rows))


def decode_batch(data: bytes) -> list[BusEvent]:
    batch = _decode(data)
    payloads = batch.payloads
    return [BusEvent(kind, user, seq, rank, payloads[slot]) for kind, user, seq, rank, slot in batch.events]  # type: ignore[arg-type]


class RedisFanout(Fanout):
    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        super().__init__()
        self.url = url
        self.channel = channel
        # Two quick retries: a pooled connection from before a Redis restart fails once, then reconnects.
        self.redis = redis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=15,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="herald-redis-fanout")
        # Do not hold startup hostage to Redis: publishing persists without it.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.connected.wait(), 5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.redis.aclose()

    async def ping(self) -> None:
        await self.redis.ping()
        if not self.connected.is_set():
            raise ConnectionError("the Redis subscription is down")

    async def publish(self, events: Sequence[BusEvent]) -> None:
        if events:
            await self.redis.publish(self.channel, encode_batch(events))

    async def _listen_forever(self) -> None:
        delay = 0.1
        first = True
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.connected.set()
                if not first:
                    log.info("Redis fan-out is back; connections re-read their inboxes")
                    self.resync_local()
                first, delay = False, 0.1
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self.deliver_local(decode_batch(message["data"]))
            except (RedisError, OSError) as exc:
                if self.connected.is_set():
                    log.warning("Redis fan-out lost: %s", exc)
                self.connected.clear()
                first = False
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 5.0)
