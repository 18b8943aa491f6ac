"""Publishing at a fixed rate to random users: the load of ``--rate`` mode, and of ``--open-publish-rate``.

One schedule, k / rate seconds after the start, over a pool of keep-alive
publish connections; with every connection busy the schedule slips, and
``publish_rate`` reports the rate achieved, not the one asked for.
"""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any, Protocol

from herald.bench.report import percentile_ms
from herald.bench.targets import BenchError


class RateTarget(Protocol):
    def client(self) -> Any: ...

    async def publish_one(self, client: Any, k: int) -> int: ...


async def publish_at_rate(target: RateTarget, rate: float, publishers: int, *, total: int | None = None,
                          stop: asyncio.Event | None = None, first_k: int = 0) -> dict[str, Any]:
    """Publish ``total`` notifications (or until ``stop`` is set) at ``rate`` per second.

    Returns the publish figures and ``expected_deliveries``, the streams the
    accepted publishes should reach (as the target counts them).
    """
    if rate <= 0:
        raise BenchError("a publish rate must be above 0")
    pool: asyncio.Queue[Any] = asyncio.Queue()
    for _ in range(max(1, publishers)):
        pool.put_nowait(target.client())
    expected, failures, publish_times = 0, Counter[str](), []

    async def publish(client: Any, k: int) -> None:
        nonlocal expected
        begun = time.perf_counter()
        try:
            expected += await target.publish_one(client, k)
            publish_times.append(time.perf_counter() - begun)
        except (BenchError, OSError, asyncio.IncompleteReadError) as exc:
            failures[str(exc)[:120] or type(exc).__name__] += 1
        finally:
            pool.put_nowait(client)

    tasks: set[asyncio.Task[None]] = set()
    started = time.perf_counter()
    k = 0
    while (total is None or k < total) and not (stop is not None and stop.is_set()):
        delay = started + k / rate - time.perf_counter()
        if delay > 0:
            if stop is None:
                await asyncio.sleep(delay)
            else:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                    break
                except TimeoutError:
                    pass
        client = await pool.get()
        task = asyncio.create_task(publish(client, first_k + k))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        k += 1
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    while not pool.empty():
        pool.get_nowait().close()
    publish_times.sort()
    return {
        "publishes": len(publish_times), "publish_errors": sum(failures.values()),
        "publish_error_kinds": dict(failures) or None,
        "publish_rate": round(len(publish_times) / elapsed, 1) if elapsed else 0.0, "publish_seconds": round(elapsed, 2),
        "publish_p50_ms": percentile_ms(publish_times, 0.5), "publish_p99_ms": percentile_ms(publish_times, 0.99),
        "expected_deliveries": expected,
    }
