"""``herald bench --publish-throughput``: how fast a Herald server persists notifications.

No streams are open, so this measures the publish path alone: expand the
target, write the notification and one inbox item per recipient, commit, 202.
``--group-size 10000`` publishes to one bench group of that many users;
``--group-size 1`` publishes to one user at a time, rotating over up to 1,000
users so concurrent publishes do not all wait on one user's sequence row.

``--rate R --duration S`` sends R publishes per second instead of as many as
``--concurrency`` allows, over ``--publishers`` keep-alive connections, and
reports the request-to-202 latency (p50, p99) at that rate: a latency figure,
where the closed loop above is a throughput figure. When every connection is
busy the schedule slips; ``publishes_per_s`` reports the rate achieved.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections import Counter
from typing import Any, Callable

from herald.bench.report import percentile_ms
from herald.bench.targets import BenchError, HeraldTarget, HttpClient

SINGLE_USER_POOL = 1000


async def measure_publish_throughput(args: argparse.Namespace) -> dict[str, Any]:
    if args.target != "herald":
        raise BenchError("--publish-throughput needs --target herald")
    if args.group_size < 1 or args.count < 1 or args.concurrency < 1:
        raise BenchError("--group-size, --count and --concurrency must be at least 1")
    target = HeraldTarget(args.url, args.api_key)
    started = time.perf_counter()
    if args.group_size > 1:
        target.groups = await target.put_groups(target.make_users(args.group_size), tag="p")
        if len(target.groups) != 1:
            raise BenchError("--group-size is at most 10,000 (one group)")
        recipients_of = lambda k: {"group": target.groups[0]}  # noqa: E731
    else:
        count = round(args.rate * args.duration) if args.rate else args.count
        users = target.make_users(max(1, min(count, SINGLE_USER_POOL)), tag="s")
        recipients_of = lambda k: {"users": [users[k % len(users)]]}  # noqa: E731
    setup_seconds = time.perf_counter() - started

    if args.rate:
        try:
            measured = await _at_rate(target, recipients_of, args)
        finally:
            await _cleanup(target)
        return {"target": "herald", "url": args.url, "mode": "publish_rate", "group_size": args.group_size,
                **measured, "setup_seconds": round(setup_seconds, 2)}

    jobs = iter(range(args.count))
    times: list[float] = []
    recipients = 0

    async def publisher() -> None:
        nonlocal recipients
        client: HttpClient = target.client()
        try:
            for k in jobs:
                begun = time.perf_counter()
                answer = await target.call(client, "POST", "/api/publish", target.publish_body(recipients_of(k), k), 202)
                times.append(time.perf_counter() - begun)
                recipients += json.loads(answer)["recipients"]
        finally:
            client.close()

    started = time.perf_counter()
    try:
        await asyncio.gather(*(publisher() for _ in range(min(args.concurrency, args.count))))
        elapsed = time.perf_counter() - started
    finally:
        await _cleanup(target)
    times.sort()
    return {
        "target": "herald", "url": args.url, "mode": "publish_throughput", "group_size": args.group_size,
        "publishes": len(times), "concurrency": args.concurrency, "seconds": round(elapsed, 2),
        "publishes_per_s": round(len(times) / elapsed, 1),
        "inbox_items_per_s": round(recipients / elapsed),
        "publish_p50_ms": percentile_ms(times, 0.5), "publish_p99_ms": percentile_ms(times, 0.99),
        "publish_max_ms": percentile_ms(times, 1.0), "setup_seconds": round(setup_seconds, 2),
    }


async def _at_rate(target: HeraldTarget, recipients_of: Callable[[int], dict[str, object]],
                   args: argparse.Namespace) -> dict[str, Any]:
    if args.rate <= 0 or args.duration <= 0 or args.publishers < 1:
        raise BenchError("--rate, --duration and --publishers must be positive")
    total = max(1, round(args.rate * args.duration))
    pool: asyncio.Queue[HttpClient] = asyncio.Queue()
    clients = [target.client() for _ in range(args.publishers)]
    for client in clients:
        pool.put_nowait(client)
    # Warm each connection (and the server's caches) outside the measurement, as a steady producer would be.
    for k, client in enumerate(clients):
        await target.call(client, "POST", "/api/publish", target.publish_body(recipients_of(k), k), 202)
    times: list[float] = []
    failures: Counter[str] = Counter()

    async def publish(client: HttpClient, k: int) -> None:
        begun = time.perf_counter()
        try:
            await target.call(client, "POST", "/api/publish", target.publish_body(recipients_of(k), k), 202)
            times.append(time.perf_counter() - begun)
        except (BenchError, OSError, asyncio.IncompleteReadError) as exc:
            failures[str(exc)[:120] or type(exc).__name__] += 1
        finally:
            pool.put_nowait(client)

    load_before = os.getloadavg()[0]
    tasks = set()
    started = time.perf_counter()
    for k in range(total):
        delay = started + k / args.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        client = await pool.get()
        task = asyncio.create_task(publish(client, k))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    for client in clients:
        client.close()
    times.sort()
    return {
        "rate": args.rate, "publishers": args.publishers, "publishes": len(times),
        "publish_errors": sum(failures.values()), "publish_error_kinds": dict(failures) or None,
        "seconds": round(elapsed, 2), "publishes_per_s": round(len(times) / elapsed, 1),
        "publish_p50_ms": percentile_ms(times, 0.5, 2), "publish_p90_ms": percentile_ms(times, 0.9, 2),
        "publish_p99_ms": percentile_ms(times, 0.99, 2), "publish_max_ms": percentile_ms(times, 1.0, 2),
        "load_average_1m": round(load_before, 2),
    }


async def _cleanup(target: HeraldTarget) -> None:
    try:
        await target.cleanup()
    except (BenchError, OSError):
        pass
