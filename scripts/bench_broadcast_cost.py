"""What one publish to ``{"all": true}`` costs the database, by audience size, on both databases (issue 22).

    python scripts/bench_broadcast_cost.py --users 1000,10000,100000 --databases sqlite,postgres

For each database, audience size and ``HERALD_BROADCAST_FANOUT`` (``read``: one broadcast row;
``write``: one inbox row per recipient, the path it replaced), it migrates a fresh database, adds
that many users, and publishes ``--publishes`` broadcasts through the real ``Publisher`` (not
started, so no background loop adds statements). It prints, per publish: statements, rows written
to ``inbox_items`` and ``broadcasts``, and the median time to the 202. Then it reads one inbox
(``--readers`` users), which is where fan-out on read pays: a catch-up, its statements and time.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import event, func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for the PostgreSQL helpers
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from herald.db import migrate  # noqa: E402
from herald.models import broadcasts, inbox_items, users  # noqa: E402
from herald.services import Services  # noqa: E402
from herald.settings import load_settings  # noqa: E402
from herald.wire import PublishRequest, Target, now_ms  # noqa: E402
from tests.herald_server import create_postgres_database, drop_postgres_database  # noqa: E402

CHUNK = 5000


async def measure(database: str, count: int, mode: str, publishes: int, readers: int) -> dict[str, float]:
    url = create_postgres_database() if database == "postgres" else ""
    with tempfile.TemporaryDirectory() as data_dir:
        settings = load_settings({"HERALD_DATA_DIR": data_dir, "HERALD_DATABASE_URL": url, "HERALD_API_KEYS": "k" * 32,
                                  "HERALD_SECRET": "s" * 32, "HERALD_BROADCAST_FANOUT": mode,
                                  "HERALD_PUBLISH_RATE_PER_SECOND": "0", "HERALD_RECIPIENT_LIVE_PER_MINUTE": "0"})
        await asyncio.to_thread(migrate, settings.effective_database_url)
        services = Services.build(settings)
        try:
            now = now_ms() - 1000
            async with services.db.write() as conn:
                for start in range(0, count, CHUNK):
                    await conn.execute(users.insert(), [{"user_id": f"user-{n}", "last_seq": 0, "pruned_seq": 0,
                                                         "created_at": now} for n in range(start, min(count, start + CHUNK))])
            seen: list[str] = []
            event.listen(services.db.engine.sync_engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
            times, before_202, behind = [], 0, 0  # statements of the last publish (the same for each)
            for n in range(publishes):
                request = PublishRequest(to=Target(all=True), type="announce", title=f"broadcast {n}")
                began = time.perf_counter()
                await services.publisher.publish(request, "bench")
                times.append(time.perf_counter() - began)
                before_202 = len(seen)
                # What runs behind the 202 (the broadcast's push audience), counted apart.
                await asyncio.gather(*services.publisher._tasks)
                behind = len(seen) - before_202
                seen.clear()
            statements, behind_202 = before_202, behind
            async with services.db.read() as conn:
                items = (await conn.execute(select(func.count()).select_from(inbox_items))).scalar() or 0
                rows = (await conn.execute(select(func.count()).select_from(broadcasts))).scalar() or 0
            seen.clear()
            began = time.perf_counter()
            for n in range(readers):
                await services.publisher.catch_up([f"user-{n}"])
            read_seconds = (time.perf_counter() - began) / max(1, readers)
            return {"statements": statements, "behind": behind_202, "items_per_publish": items / publishes,
                    "broadcast_rows": rows / publishes,
                    "publish_ms": statistics.median(times) * 1000, "catch_up_ms": read_seconds * 1000,
                    "catch_up_statements": len(seen) / max(1, readers)}
        finally:
            await services.db.close()
            if url:
                drop_postgres_database(url)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", default="1000,10000,100000")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--modes", default="read,write")
    parser.add_argument("--publishes", type=int, default=5)
    parser.add_argument("--readers", type=int, default=20)
    args = parser.parse_args()
    print("| database | users | fan-out | statements / publish (+ behind the 202) | inbox rows / publish | broadcast rows / publish "
          "| publish p50 (ms) | first read of one inbox after them (ms, statements) |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    # statements: in the publish, before its 202 (+ those of the task it leaves behind the 202)
    for database in args.databases.split(","):
        for count in (int(n) for n in args.users.split(",")):
            for mode in args.modes.split(","):
                found = await measure(database, count, mode, args.publishes, args.readers)
                read = (f"{found['catch_up_ms']:.1f} ms, {found['catch_up_statements']:.0f}" if mode == "read"
                        else "nothing to copy")
                print(f"| {database} | {count:,} | {mode} | {found['statements']:.0f} + {found['behind']:.0f} "
                      f"| {found['items_per_publish']:,.0f} | {found['broadcast_rows']:.0f} | {found['publish_ms']:.1f} "
                      f"| {read} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
