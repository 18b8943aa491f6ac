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

Presence (who is online anywhere, for the Web Push fallback): each node keeps
the set of users it holds in ``herald:node:<id>:users`` (expiring unless the
node refreshes it) and registers itself in ``herald:nodes`` with the time of
its last refresh; ``online()`` asks each live node's set with SMISMEMBER. A
node that dies stops counting within ``PRESENCE_TTL_SECONDS``. Changes are
written in batches, so a user who connected a few milliseconds ago may still
look offline and get a push as well: a duplicate, never a loss.

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
import secrets
import time
from typing import Iterable, Sequence

import msgspec
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from herald.fanout.base import BusEvent, Fanout, Listener, Presence
from herald.metrics import Metrics
from herald.tasks import cancel, wait_event

log = logging.getLogger("herald.fanout")

CHANNEL = "herald:events"
NODES = "herald:nodes"
PRESENCE_TTL_SECONDS = 30
PRESENCE_REFRESH_SECONDS = 10
PRESENCE_FLUSH_SECONDS = 0.05


class _Batch(msgspec.Struct, array_like=True):
    payloads: list[bytes]
    # (kind, key, seq, rank, payload index, sent_at)
    events: list[tuple[str, str, int, int, int, float]]


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
        rows.append((event.kind, event.key, event.seq, event.rank, slot, event.sent_at))
    return _encode(_Batch(payloads, rows))


def decode_batch(data: bytes) -> list[BusEvent]:
    batch = _decode(data)
    payloads = batch.payloads
    return [BusEvent(kind, key, seq, rank, payloads[slot], sent_at)  # type: ignore[arg-type]
            for kind, key, seq, rank, slot, sent_at in batch.events]


class RedisFanout(Fanout):
    def __init__(self, url: str, channel: str = CHANNEL, metrics: Metrics | None = None) -> None:
        super().__init__()
        self.url = url
        self.channel = channel
        self.metrics = metrics
        # Two quick retries: a pooled connection from before a Redis restart fails once, then reconnects.
        self.redis = redis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=15,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        self.connected = asyncio.Event()
        self.node_id = secrets.token_hex(8)
        self._node_users = f"herald:node:{self.node_id}:users"
        self._presence_changes: dict[str, bool] = {}
        self._presence_dirty = asyncio.Event()
        self._presence_rewrite = True
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name="herald-redis-fanout"),
            asyncio.create_task(self._presence_forever(), name="herald-redis-presence"),
        ]
        # Do not hold startup hostage to Redis: publishing persists without it.
        await wait_event(self.connected, 5)

    async def stop(self) -> None:
        await cancel(self._tasks)
        with contextlib.suppress(RedisError, OSError):
            await self.redis.zrem(NODES, self.node_id)
            await self.redis.delete(self._node_users)
        await self.redis.aclose()

    def attach(self, user_id: str, listener: Listener) -> None:
        if not self.online_here(user_id):
            self._presence_changes[user_id] = True
            self._presence_dirty.set()
        super().attach(user_id, listener)

    def detach(self, user_id: str, listener: Listener) -> None:
        super().detach(user_id, listener)
        if not self.online_here(user_id):
            self._presence_changes[user_id] = False
            self._presence_dirty.set()

    async def online(self, user_ids: Iterable[str]) -> set[str]:
        wanted = list(user_ids)
        found = {u for u in wanted if self.online_here(u)}
        others = [u for u in wanted if u not in found]
        if not others:
            return found
        try:
            nodes = await self.redis.zrangebyscore(NODES, time.time() - PRESENCE_TTL_SECONDS, "+inf")
            async with self.redis.pipeline(transaction=False) as pipe:
                for node in nodes:
                    pipe.smismember(f"herald:node:{node.decode()}:users", others)
                answers = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("presence unavailable (%s): answering for this node only", exc)
            self._count_error("presence")
            return found
        for flags in answers:
            found.update(user for user, here in zip(others, flags) if here)
        return found

    async def nodes_of(self, user_id: str) -> list[str]:
        """The live nodes whose presence set holds the user (this node answers from memory if Redis cannot)."""
        here = [self.node_id] if self.online_here(user_id) else []
        try:
            nodes = [node.decode() for node in
                     await self.redis.zrangebyscore(NODES, time.time() - PRESENCE_TTL_SECONDS, "+inf")]
            async with self.redis.pipeline(transaction=False) as pipe:
                for node in nodes:
                    pipe.sismember(f"herald:node:{node}:users", user_id)
                answers = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("presence unavailable (%s): answering for this node only", exc)
            self._count_error("presence")
            return here
        return sorted(set(here) | {node for node, member in zip(nodes, answers) if member})

    async def presence(self) -> Presence:
        """Distinct users online across the live nodes (a union of their sets), and users per node."""
        try:
            nodes = [node.decode() for node in
                     await self.redis.zrangebyscore(NODES, time.time() - PRESENCE_TTL_SECONDS, "+inf")]
            keys = [f"herald:node:{node}:users" for node in nodes]
            if not keys:
                return Presence(0, {})
            scratch = f"herald:presence:{self.node_id}"
            async with self.redis.pipeline(transaction=True) as pipe:
                for key in keys:
                    pipe.scard(key)
                pipe.sunionstore(scratch, keys)
                pipe.delete(scratch)
                answers = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("presence unavailable (%s): answering for this node only", exc)
            self._count_error("presence")
            return Presence(len(self._listeners), {self.node_id: len(self._listeners)})
        return Presence(answers[len(keys)], dict(zip(nodes, answers[:len(keys)])))

    async def _presence_forever(self) -> None:
        """Write presence changes in batches; refresh this node's registration and expiry."""
        last_refresh = 0.0
        while True:
            await wait_event(self._presence_dirty, PRESENCE_REFRESH_SECONDS)
            await asyncio.sleep(PRESENCE_FLUSH_SECONDS)
            self._presence_dirty.clear()
            changes, self._presence_changes = self._presence_changes, {}
            try:
                async with self.redis.pipeline(transaction=True) as pipe:
                    if self._presence_rewrite:
                        pipe.delete(self._node_users)
                        changes = {user: True for user in self._listeners}
                    added = [u for u, on in changes.items() if on]
                    removed = [u for u, on in changes.items() if not on]
                    if added:
                        pipe.sadd(self._node_users, *added)
                    if removed:
                        pipe.srem(self._node_users, *removed)
                    if time.monotonic() - last_refresh > PRESENCE_REFRESH_SECONDS / 2 or self._presence_rewrite:
                        pipe.expire(self._node_users, PRESENCE_TTL_SECONDS)
                        pipe.zadd(NODES, {self.node_id: time.time()})
                        pipe.zremrangebyscore(NODES, "-inf", time.time() - 10 * PRESENCE_TTL_SECONDS)
                        last_refresh = time.monotonic()
                    await pipe.execute()
                self._presence_rewrite = False
            except Exception:  # noqa: BLE001 - as the listener: this loop must outlive any one failure
                self._count_error("presence")
                self._presence_rewrite = True  # Redis may have lost everything: write the whole set next time

    def _count_error(self, operation: str) -> None:
        if self.metrics is not None:
            self.metrics.redis_errors.labels(operation).inc()

    async def ping(self) -> None:
        await self.redis.ping()
        if not self.connected.is_set():
            raise ConnectionError("the Redis subscription is down")

    async def publish(self, events: Sequence[BusEvent]) -> None:
        if events:
            await self.redis.publish(self.channel, encode_batch(events))

    async def _listen_forever(self) -> None:
        delay = 0.1
        subscribed_before = False
        while True:
            # Subscribe confirmations are kept: redis-py's retry may reconnect a pub/sub connection
            # and subscribe again on its own, and each confirmation after the first means events
            # may have been published while no one here listened (redis-py 7.2 and later no longer
            # raise to the caller when Redis restarts: redis/redis-py#3979).
            pubsub = self.redis.pubsub(ignore_subscribe_messages=False)
            try:
                await pubsub.subscribe(self.channel)
                async for message in pubsub.listen():
                    kind = message.get("type")
                    if kind == "message":
                        self.deliver_local(decode_batch(message["data"]))
                    elif kind == "subscribe":
                        self.connected.set()
                        delay = 0.1
                        if subscribed_before:
                            log.info("Redis fan-out is back; connections re-read their inboxes")
                            self.resync_local()
                            self._presence_rewrite = True  # a restarted Redis has forgotten who is here
                            self._presence_dirty.set()
                        subscribed_before = True
            except Exception as exc:  # noqa: BLE001 - whatever ends the subscription, a dead loop would leave this node deaf
                if self.connected.is_set():
                    log.warning("Redis fan-out lost: %r", exc)
                self._count_error("subscribe")
                self.connected.clear()
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 5.0)
