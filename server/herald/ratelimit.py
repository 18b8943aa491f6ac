"""Token buckets: how often a key (an API key, a client address, a user) may do something.

A bucket holds up to ``burst`` tokens and refills at ``rate_per_second``;
each event takes one token, and an event that finds less than one is refused
with the time until the next token (the ``Retry-After``). One interface,
``RateLimiter``, with two implementations:

- ``MemoryRateLimiter``: buckets in this process. The embedded default, and
  exact for one process; under ``herald serve --workers N`` or on several
  machines each process keeps its own buckets, so a key gets N times the rate.
- ``RedisRateLimiter``: buckets in Redis, updated by one Lua script on Redis's
  own clock, so a limit holds across processes and nodes (used when
  ``HERALD_REDIS_URL`` is set).

When Redis cannot be reached the Redis limiter falls back to the memory
buckets of its own process for a second at a time, logs it (at most every 10
seconds) and counts it in ``herald_redis_errors_total{operation="ratelimit"}``.
That is failing open as far as the cluster-wide limit goes: a notification
service that refused every publish and every connection because its limiter's
store is down would turn a Redis outage into a full outage, while publishing
is designed to keep working without Redis. Per-process limits still stop a
runaway producer or a reconnect storm meanwhile.

Why not the ``limits`` package: it offers fixed, moving and sliding windows,
not token buckets, so it cannot express "200 per second with bursts of 1,000"
as one limit, gives no exact time-to-next-token for ``Retry-After``, has no
call that checks many keys in one round trip (the per-recipient digest checks
every recipient of a broadcast), and has no fallback while its storage is down.
The script below is the whole of what those would need.
"""
from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from herald.metrics import Metrics

log = logging.getLogger("herald.ratelimit")

KEY_PREFIX = "herald:rl:"
REDIS_CHUNK = 1000  # keys per script call: bounded work per call, so Redis serves others in between
FALLBACK_SECONDS = 1.0  # after a Redis error, use the local buckets this long before trying Redis again
LOG_EVERY_SECONDS = 10.0
MEMORY_SWEEP_KEYS = 100_000  # above this many buckets, full ones (same as absent) are dropped, once a second


@dataclass(frozen=True, slots=True)
class Limit:
    """A kind of bucket: ``name`` keeps kinds apart and labels refusals in the metrics."""

    name: str
    rate_per_second: float
    burst: int

    @property
    def enabled(self) -> bool:
        """A rate or burst of 0 turns the limit off."""
        return self.rate_per_second > 0 and self.burst > 0


class RateLimiter(ABC):
    async def hit(self, limit: Limit, key: str) -> float:
        """Take a token from ``key``'s bucket: 0.0 if allowed, else refused and the seconds until a token."""
        return (await self.hit_many(limit, [key]))[0]

    @abstractmethod
    async def hit_many(self, limit: Limit, keys: Sequence[str]) -> list[float]:
        """``hit`` for each key, in order, in one round trip; a repeated key takes a token each time."""

    async def close(self) -> None:
        """Release connections, if any."""


class MemoryRateLimiter(RateLimiter):
    """Buckets in this process's memory (one process only: see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # (limit name, key) -> [tokens, when they were counted, when the bucket is full again]
        self._buckets: dict[tuple[str, str], list[float]] = {}
        self._swept_at = 0.0

    async def hit_many(self, limit: Limit, keys: Sequence[str]) -> list[float]:
        now = self._clock()
        if len(self._buckets) > MEMORY_SWEEP_KEYS and now - self._swept_at >= 1.0:
            self._sweep(now)
        return [self._take(limit, key, now) for key in keys]

    def _take(self, limit: Limit, key: str, now: float) -> float:
        rate, burst = limit.rate_per_second, limit.burst
        bucket = self._buckets.get((limit.name, key))
        tokens = float(burst) if bucket is None else min(burst, bucket[0] + (now - bucket[1]) * rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / rate
        self._buckets[(limit.name, key)] = [tokens, now, now + (burst - tokens) / rate]
        return wait

    def _sweep(self, now: float) -> None:
        # A full bucket behaves exactly like a missing one, so forgetting it changes nothing;
        # this bounds memory when many addresses each connect once.
        self._swept_at = now
        self._buckets = {key: bucket for key, bucket in self._buckets.items() if bucket[2] > now}


# KEYS: the buckets. ARGV: tokens per millisecond, burst. Returns the wait in seconds per key.
# Time is Redis's (TIME), so nodes with skewed clocks share buckets correctly. A bucket is one
# string "<tokens> <milliseconds>" (two commands per key), expiring once it would be full again.
_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local waits = {}
for i, key in ipairs(KEYS) do
  local state = redis.call('GET', key)
  local tokens = burst
  if state then
    local space = string.find(state, ' ', 1, true)
    local before = tonumber(string.sub(state, space + 1))
    tokens = math.min(burst, tonumber(string.sub(state, 1, space - 1)) + math.max(0, now - before) * rate)
  end
  local wait = 0
  if tokens >= 1 then
    tokens = tokens - 1
  else
    wait = (1 - tokens) / rate / 1000
  end
  redis.call('SET', key, string.format('%.6f %.3f', tokens, now), 'PX', math.ceil((burst - tokens) / rate) + 1000)
  waits[i] = string.format('%.6f', wait)
end
return waits
"""


class RedisRateLimiter(RateLimiter):
    """Buckets in Redis, shared by every process and node using the same Redis."""

    def __init__(self, url: str, metrics: Metrics | None = None, fallback: RateLimiter | None = None) -> None:
        # Fail fast: one immediate retry covers a pooled connection from before a Redis restart;
        # anything longer would hold up the publish or connect being checked.
        self.redis = redis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5,
            retry=Retry(NoBackoff(), 1), retry_on_error=[RedisConnectionError])
        self._script = self.redis.register_script(_SCRIPT)
        self.metrics = metrics
        self.fallback = fallback or MemoryRateLimiter()
        self._down_until = 0.0
        self._logged_at = float("-inf")

    async def hit_many(self, limit: Limit, keys: Sequence[str]) -> list[float]:
        if time.monotonic() < self._down_until:
            return await self.fallback.hit_many(limit, keys)
        waits: list[float] = []
        try:
            for start in range(0, len(keys), REDIS_CHUNK):
                chunk = [KEY_PREFIX + limit.name + ":" + key for key in keys[start:start + REDIS_CHUNK]]
                answer = await self._script(keys=chunk, args=[limit.rate_per_second / 1000, limit.burst])
                waits.extend(float(wait) for wait in answer)
        except (RedisError, OSError) as exc:
            self._down(exc)
            # Buckets already taken in Redis for an earlier chunk stay taken: the rest go local.
            return waits + await self.fallback.hit_many(limit, keys[len(waits):])
        return waits

    def _down(self, exc: Exception) -> None:
        now = time.monotonic()
        self._down_until = now + FALLBACK_SECONDS
        if self.metrics is not None:
            self.metrics.redis_errors.labels("ratelimit").inc()
        if now - self._logged_at >= LOG_EVERY_SECONDS:
            self._logged_at = now
            log.warning("rate limits: Redis unreachable (%s); using this process's own buckets meanwhile", exc)

    async def close(self) -> None:
        await self.redis.aclose()


def build_limiter(redis_url: str, metrics: Metrics | None = None) -> RateLimiter:
    """Redis buckets when Redis is configured (several processes or nodes), memory ones otherwise."""
    return RedisRateLimiter(redis_url, metrics) if redis_url else MemoryRateLimiter()
