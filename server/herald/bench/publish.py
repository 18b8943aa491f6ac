"""``herald bench --publish-throughput``: how fast a Herald server persists notifications.

No streams are open, so this measures the publish path alone: expand the
target, write the notification and one inbox item per recipient, commit, 202.
``--group-size 10000`` publishes to one bench group of that many users;
``--group-size 1`` publishes to one user at a time, rotating over up to 1,000
users so concurrent publishes do not all wait on one user's sequence row.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

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
        users = target.make_users(min(args.count, SINGLE_USER_POOL), tag="s")
        recipients_of = lambda k: {"users": [users[k % len(users)]]}  # noqa: E731
    setup_seconds = time.perf_counter() - started

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
        try:
            await target.cleanup()
        except (BenchError, OSError):
            pass
    times.sort()
    return {
        "target": "herald", "url": args.url, "mode": "publish_throughput", "group_size": args.group_size,
        "publishes": len(times), "concurrency": args.concurrency, "seconds": round(elapsed, 2),
        "publishes_per_s": round(len(times) / elapsed, 1),
        "inbox_items_per_s": round(recipients / elapsed),
        "publish_p50_ms": percentile_ms(times, 0.5), "publish_p99_ms": percentile_ms(times, 0.99),
        "publish_max_ms": percentile_ms(times, 1.0), "setup_seconds": round(setup_seconds, 2),
    }
