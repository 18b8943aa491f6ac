"""Redis Streams: a consumer group over one or more streams, with ``XAUTOCLAIM`` of what a dead node left.

An entry is ``XADD <stream> * payload <publish request JSON> [key <ordering key>]``.
Its id (``<stream>:<entry id>``) is the idempotency key; its ordering key is
the ``key`` field, or the stream itself (a stream per shard keeps each shard in
order). Each node reads as its own consumer of the group
(``HERALD_CONSUME_NAME``, by default host and process id):

- first its own pending entries (``XREADGROUP ... 0``): what it held when it
  stopped or when an ack failed, so a node restarted under the same name
  resumes in order;
- then entries idle longer than ``HERALD_CONSUME_REDIS_CLAIM_IDLE_SECONDS`` in
  another consumer's pending list (``XAUTOCLAIM``): a node that died;
- then new entries (``XREADGROUP ... >``).

While the loop retries an entry (Herald's database down), ``hold`` claims it
again for this consumer (``XCLAIM ... JUSTID``), which resets its idle time,
so a live node's entries are not claimed by another.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from herald.consume.base import Lag, Message, Source


class RedisSource(Source):
    name = "redis"

    def __init__(self, url: str, streams: Sequence[str], group: str, consumer: str, claim_idle_seconds: float) -> None:
        self.url = url
        self.streams = list(streams)
        self.group = group
        self.consumer = consumer
        self.claim_idle_ms = int(claim_idle_seconds * 1000)
        self.hold_every_seconds = claim_idle_seconds / 3
        self.redis: Redis | None = None
        self._own_pending = True  # read our own pending entries before new ones
        self._next_claim = 0.0

    async def open(self) -> None:
        if self.redis is None:
            # No socket timeout: a blocking XREADGROUP waits longer than any sensible one. A dead
            # server resets the connection; health checks catch a silent one.
            self.redis = Redis.from_url(self.url, socket_connect_timeout=5, health_check_interval=15)
        for stream in self.streams:
            try:
                # From the stream's start: entries added before Herald's first start are notifications too.
                await self.redis.xgroup_create(stream, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._own_pending = True

    async def fetch(self, max_messages: int, wait_seconds: float) -> list[Message]:
        assert self.redis is not None
        if self._own_pending:
            messages = await self._read({stream: "0" for stream in self.streams}, max_messages, None)
            if messages:
                return messages
            self._own_pending = False
        if time.monotonic() >= self._next_claim:
            self._next_claim = time.monotonic() + self.claim_idle_ms / 2000
            claimed = await self._claim(max_messages)
            if claimed:
                return claimed
        return await self._read({stream: ">" for stream in self.streams}, max_messages, int(wait_seconds * 1000))

    async def _read(self, streams: dict[str, str], count: int, block_ms: int | None) -> list[Message]:
        assert self.redis is not None
        reply = await self.redis.xreadgroup(self.group, self.consumer, streams, count=count, block=block_ms)
        messages = []
        for stream, entries in reply or []:
            stream = stream.decode() if isinstance(stream, bytes) else stream
            messages += await self._messages(stream, entries)
        return messages

    async def _claim(self, count: int) -> list[Message]:
        assert self.redis is not None
        messages = []
        for stream in self.streams:
            reply = await self.redis.xautoclaim(stream, self.group, self.consumer, self.claim_idle_ms, "0-0", count=count)
            messages += await self._messages(stream, reply[1])
            if len(reply) > 2 and reply[2]:  # pending ids whose entries were trimmed away: nothing to publish
                await self.redis.xack(stream, self.group, *reply[2])
        return messages

    async def _messages(self, stream: str, entries: list[Any]) -> list[Message]:
        messages, vanished = [], []
        for entry_id, fields in entries:
            entry = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            if not fields:  # pending, but trimmed from the stream: gone before Herald could read it
                vanished.append(entry)
                continue
            fields = {k.decode() if isinstance(k, bytes) else k: v for k, v in fields.items()}
            key = fields.get("key")
            messages.append(Message(
                source_id=f"redis:{stream}:{entry}", key=key.decode(errors="replace") if key else stream,
                body=fields.get("payload", b""), produced_at=int(entry.split("-")[0]) / 1000, handle=(stream, entry)))
        if vanished:
            assert self.redis is not None
            await self.redis.xack(stream, self.group, *vanished)
        return messages

    async def ack(self, messages: Sequence[Message]) -> None:
        assert self.redis is not None
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream, ids in _by_stream(messages).items():
                pipe.xack(stream, self.group, *ids)
            await pipe.execute()

    async def hold(self, messages: Sequence[Message]) -> None:
        assert self.redis is not None
        for stream, ids in _by_stream(messages).items():
            await self.redis.xclaim(stream, self.group, self.consumer, 0, ids, justid=True)

    async def abandon(self, messages: Sequence[Message]) -> None:
        self._own_pending = True  # they are still in our pending list: read them again first

    async def lag(self) -> Lag:
        assert self.redis is not None
        behind, oldest = 0, None
        for stream in self.streams:
            group = next((g for g in await self.redis.xinfo_groups(stream) if _text(g["name"]) == self.group), None)
            if group is None:
                continue
            pending = int(group.get("pending") or 0)
            waiting = group.get("lag")
            if waiting is None:  # Redis cannot tell after deletions in the middle: count the entries left
                waiting = len(await self.redis.xrange(stream, "(" + _text(group["last-delivered-id"]), "+"))
            behind += pending + int(waiting)
            first = None
            if pending:
                first = _text((await self.redis.xpending(stream, self.group))["min"])
            elif waiting:
                after = await self.redis.xrange(stream, "(" + _text(group["last-delivered-id"]), "+", count=1)
                first = _text(after[0][0]) if after else None
            if first:
                stamp = int(first.split("-")[0]) / 1000
                oldest = stamp if oldest is None else min(oldest, stamp)
        return Lag(behind, max(0.0, time.time() - oldest) if oldest and behind else 0.0)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
            self.redis = None


def _by_stream(messages: Sequence[Message]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for message in messages:
        stream, entry = message.handle  # type: ignore[misc]
        grouped.setdefault(stream, []).append(entry)
    return grouped


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
