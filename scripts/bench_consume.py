"""Throughput of each log consumer: messages per second into inboxes, one Herald process.

For each source, a private log (the same servers the tests start: nats-server,
redis-server, the shared PostgreSQL for the outbox, the noida-db Kafka
emulator) is filled with N publish requests for 50 users first; then one
Herald (``Services``, in this process, on a fresh PostgreSQL or SQLite
database) starts its consumer, and the clock runs until all N are in the
inboxes. Each message is one full publish (idempotency key, inbox write,
fan-out), so this is the publish path's speed as a consumer drives it.

    .venv/bin/python scripts/bench_consume.py --messages 2000 --database postgres
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from herald.db import migrate  # noqa: E402
from herald.services import Services  # noqa: E402
from herald.settings import load_settings  # noqa: E402
from tests.herald_server import create_postgres_database, drop_postgres_database  # noqa: E402
from tests.integration.consume.logs import LOGS, OutboxLog, message  # noqa: E402

USERS = 50


async def one(source: str, count: int, database: str, root: Path) -> float:
    log = LOGS[source](root / source)
    url = create_postgres_database() if database == "postgres" else ""
    try:
        await log.produce([(f"user{i % USERS}", message(f"user{i % USERS}", i // USERS)) for i in range(count)])
        env = {**log.env, "HERALD_DATA_DIR": str(root / f"herald-{source}"), "HERALD_DATABASE_URL": url,
               "HERALD_PUBLISH_RATE_PER_SECOND": "0", "HERALD_RECIPIENT_LIVE_PER_MINUTE": "0"}
        if isinstance(log, OutboxLog):
            env["HERALD_CONSUME_OUTBOX_URL"] = log.direct  # not through the tests' fault proxy
        settings = load_settings(env)
        await asyncio.to_thread(migrate, settings.effective_database_url)
        services = Services.build(settings)
        started = time.perf_counter()
        await services.start()
        try:
            while True:
                async with services.db.read() as conn:
                    if (await conn.execute(text("SELECT count(*) FROM inbox_items"))).scalar_one() >= count:
                        break
                await asyncio.sleep(0.02)
            return count / (time.perf_counter() - started)
        finally:
            await services.stop()
    finally:
        log.close()
        if url:
            drop_postgres_database(url)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--sources", default="nats,redis,outbox,kafka")
    parser.add_argument("--repeat", type=int, default=1, help="rounds, interleaved; the median is reported")
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.repeat):
            for source in args.sources.split(","):
                rate = await one(source, args.messages, args.database, Path(tmp) / f"r{round_}")
                results.setdefault(source, []).append(rate)
                print(f"round {round_ + 1} {source}: {rate:,.0f} messages/s", file=sys.stderr, flush=True)
    load = os.getloadavg()
    print(f"\n{args.messages} messages for {USERS} users per source, Herald on {args.database}, one process; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("| source | messages/s into inboxes (median) | runs |")
    print("| --- | ---: | --- |")
    for source, rates in results.items():
        ordered = sorted(rates)
        print(f"| {source} | {ordered[len(ordered) // 2]:,.0f} | {', '.join(f'{r:,.0f}' for r in rates)} |")


if __name__ == "__main__":
    asyncio.run(main())
