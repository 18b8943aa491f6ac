"""How long the bell's counts take with 100,000 items in one inbox, on SQLite and PostgreSQL.

    PYTHONPATH=server python scripts/bench_counts.py --items 100000 --databases sqlite,postgres

For each database: a fresh schema (migrated to head: the indexes are the migration's), one user
with --items items of 10 types in 3 categories, a third of them read, a tenth archived, then
``Triage.counts`` with three tabs (type patterns and a category), as ``GET /api/notifications/counts``
runs it, --rounds times. Prints the median and p95 in milliseconds per database, and the same for
the newest page filtered by a type pattern (``GET /api/notifications?type=order.*``).
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from herald.db import Database, migrate
from herald.inbox import Inbox
from herald.models import inbox_items, notifications, users
from herald.triage import ItemFilter, Tab, Triage
from herald.wire import now_ms

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
TYPES = [f"{kind}.{n}" for kind in ("order", "comment", "billing") for n in range(3)] + ["mention"]
TABS = [Tab("Orders", ItemFilter(types=("order.*",))), Tab("Billing", ItemFilter(types=("billing.*", "mention"))),
        Tab("Team", ItemFilter(categories=("team",)))]


async def fill(db: Database, count: int) -> None:
    now = now_ms()
    async with db.write() as conn:
        await conn.execute(insert(users).values(user_id="bench", last_seq=count, pruned_seq=0, created_at=now))
        for start in range(0, count, 5000):
            rows = range(start, min(count, start + 5000))
            await conn.execute(insert(notifications), [
                {"id": f"n{i:08d}", "type": TYPES[i % len(TYPES)], "title": f"item {i}", "body": "", "priority": "medium",
                 "target": {"users": ["bench"]}, "recipients": 1, "producer": "bench", "created_at": now + i,
                 "category": ("team", "ops", "sales")[i % 3]} for i in rows])
            await conn.execute(insert(inbox_items), [
                {"user_id": "bench", "id": f"n{i:08d}", "seq": i + 1, "notification_id": f"n{i:08d}", "group_count": 1,
                 "read": i % 3 == 0, "seen": i % 3 != 2, "archived": i % 10 == 0, "created_at": now + i,
                 "type": TYPES[i % len(TYPES)], "category": ("team", "ops", "sales")[i % 3],
                 "updated_at": now + i} for i in rows])


async def measure(url: str, count: int, rounds: int) -> dict[str, list[float]]:
    migrate(url)
    db = Database(url)
    try:
        await fill(db, count)
        if not db.is_sqlite:
            async with db.engine.connect() as conn:  # as autovacuum would: the visibility map lets counts skip the heap
                await (await conn.execution_options(isolation_level="AUTOCOMMIT")).exec_driver_sql("VACUUM ANALYZE")
        else:
            async with db.write() as conn:
                await conn.exec_driver_sql("ANALYZE")
        inbox = Inbox(db, 3600)
        triage = Triage(db, inbox, None, None)  # type: ignore[arg-type] - counts need neither
        timings: dict[str, list[float]] = {"counts": [], "filtered page": []}
        for _ in range(rounds):
            started = time.perf_counter()
            total, _tabs = await triage.counts("bench", TABS)
            timings["counts"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await inbox.page("bench", since=None, before=None, limit=50,
                             where=ItemFilter(types=("order.*",)).clauses(now_ms()))
            timings["filtered page"].append((time.perf_counter() - started) * 1000)
        print(f"  unread {total.unread}, unseen {total.unseen}", file=sys.stderr)
        return timings
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--databases", default="sqlite,postgres")
    args = parser.parse_args()
    for name in args.databases.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            if name == "sqlite":
                url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            else:
                database = f"herald_bench_counts_{int(time.time())}"
                subprocess.run(["psql", POSTGRES_ADMIN, "-qc", f'CREATE DATABASE "{database}"'], check=True)
                url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
            try:
                timings = asyncio.run(measure(url, args.items, args.rounds))
            finally:
                if name != "sqlite":
                    subprocess.run(["psql", POSTGRES_ADMIN, "-qc", f'DROP DATABASE "{database}" WITH (FORCE)'], check=True)
        for what, values in timings.items():
            values.sort()
            print(f"{name}: {what} with {args.items:,} items: median {statistics.median(values):.1f} ms, "
                  f"p95 {values[int(len(values) * 0.95) - 1]:.1f} ms ({args.rounds} rounds)")


if __name__ == "__main__":
    main()
