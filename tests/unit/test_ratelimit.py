"""Token buckets: one contract, both implementations (memory, and the real Redis at 127.0.0.1:6379)."""
from __future__ import annotations

import asyncio
import logging
import secrets
from typing import AsyncIterator

import pytest

from herald import ratelimit
from herald.metrics import Metrics
from herald.ratelimit import Limit, MemoryRateLimiter, RateLimiter, RedisRateLimiter
from tests.herald_server import free_port

SHARED_REDIS = "redis://127.0.0.1:6379/0"


def fresh(rate: float, burst: int) -> Limit:
    """A limit no other test (or earlier run, in Redis) has buckets for."""
    return Limit(f"test-{secrets.token_hex(6)}", rate, burst)


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    made: RateLimiter = MemoryRateLimiter() if request.param == "memory" else RedisRateLimiter(SHARED_REDIS)
    yield made
    await made.close()


async def test_a_burst_is_allowed_then_refused_with_the_time_to_the_next_token(limiter: RateLimiter) -> None:
    limit = fresh(rate=2, burst=3)
    assert [await limiter.hit(limit, "k") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = await limiter.hit(limit, "k")
    # One token comes every 0.5 s; a little of it has already refilled.
    assert 0.4 < wait <= 0.5


async def test_tokens_refill_at_the_rate(limiter: RateLimiter) -> None:
    limit = fresh(rate=10, burst=1)
    assert await limiter.hit(limit, "k") == 0.0
    wait = await limiter.hit(limit, "k")
    assert wait > 0
    await asyncio.sleep(wait + 0.02)
    assert await limiter.hit(limit, "k") == 0.0


async def test_keys_and_limits_have_their_own_buckets(limiter: RateLimiter) -> None:
    limit, other = fresh(rate=1, burst=1), fresh(rate=1, burst=1)
    assert await limiter.hit(limit, "a") == 0.0
    assert await limiter.hit(limit, "a") > 0
    assert await limiter.hit(limit, "b") == 0.0
    assert await limiter.hit(other, "a") == 0.0


async def test_hit_many_takes_one_token_per_key_in_order_repeats_included(limiter: RateLimiter) -> None:
    limit = fresh(rate=1, burst=2)
    waits = await limiter.hit_many(limit, ["a", "b", "a", "a", "c"])
    assert [wait == 0 for wait in waits] == [True, True, True, False, True]


async def test_hit_many_works_across_redis_chunks(limiter: RateLimiter) -> None:
    limit = fresh(rate=1, burst=1)
    keys = [f"user{i}" for i in range(ratelimit.REDIS_CHUNK + 5)]
    assert all(wait == 0 for wait in await limiter.hit_many(limit, keys))
    assert all(wait > 0 for wait in await limiter.hit_many(limit, keys))


async def test_two_redis_limiters_share_buckets_as_two_processes_would() -> None:
    limit = fresh(rate=0.1, burst=2)
    first, second = RedisRateLimiter(SHARED_REDIS), RedisRateLimiter(SHARED_REDIS)
    try:
        assert await first.hit(limit, "k") == 0.0
        assert await second.hit(limit, "k") == 0.0
        assert await first.hit(limit, "k") > 0
        assert await second.hit(limit, "k") > 0
    finally:
        await first.close()
        await second.close()


async def test_redis_buckets_expire_once_full_again() -> None:
    limit = fresh(rate=100, burst=1)
    limiter = RedisRateLimiter(SHARED_REDIS)
    try:
        await limiter.hit(limit, "k")
        ttl_ms = await limiter.redis.pttl(ratelimit.KEY_PREFIX + limit.name + ":k")
        # Full again after 10 ms, plus the one-second margin: no key outlives its use.
        assert 0 < ttl_ms <= 1011
    finally:
        await limiter.close()


async def test_unreachable_redis_falls_back_to_local_buckets_and_is_counted_and_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0", metrics)  # nothing listens there
    limit = fresh(rate=0.1, burst=2)
    try:
        with caplog.at_level(logging.WARNING, logger="herald.ratelimit"):
            waits = [await limiter.hit(limit, "k") for _ in range(3)]
        # Fail open for the cluster, not for this process: the local bucket still limits.
        assert [wait == 0 for wait in waits] == [True, True, False]
        # One error, then a second of local buckets without asking Redis again.
        assert metrics.registry.get_sample_value("herald_redis_errors_total", {"operation": "ratelimit"}) == 1
        assert sum("Redis unreachable" in r.getMessage() for r in caplog.records) == 1
    finally:
        await limiter.close()


async def test_memory_buckets_that_are_full_again_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0])
    monkeypatch.setattr(ratelimit, "MEMORY_SWEEP_KEYS", 10)
    limit = Limit("connect_address", 1, 5)
    await limiter.hit_many(limit, [f"10.0.0.{i}" for i in range(50)])
    now[0] = 10.0  # every bucket refilled
    await limiter.hit(limit, "10.0.1.1")
    assert len(limiter._buckets) == 1
    # A bucket still refilling is kept: forgetting it would hand its key a fresh burst.
    for _ in range(5):
        await limiter.hit(limit, "busy")
    await limiter.hit_many(limit, [f"10.0.2.{i}" for i in range(20)])
    now[0] = 11.5
    await limiter.hit(limit, "10.0.3.1")
    assert ("connect_address", "busy") in limiter._buckets


def test_a_zero_rate_or_burst_turns_a_limit_off() -> None:
    assert Limit("x", 5, 10).enabled
    assert not Limit("x", 0, 10).enabled
    assert not Limit("x", 5, 0).enabled


