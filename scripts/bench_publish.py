"""How fast Herald persists notifications, on SQLite and on PostgreSQL, in one run.

    python scripts/bench_publish.py --databases sqlite,postgres --group-count 10 \
        --single-count 2000 --single-concurrency 16

For each database: a fresh `herald serve` (new SQLite data directory, or a new
PostgreSQL database created and dropped with psql), then `herald bench
--publish-throughput` twice: publishes to one group of --group-size users
(10,000 by default; one publish writes that many inbox items), and single-user
publishes with --single-concurrency in flight. No streams are open. Writes
results.json and results.md into --out.
"""
from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_fanout import POSTGRES_ADMIN_URL, herald_server, machine


def throughput(url: str, api_key: str, group_size: int, count: int, concurrency: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "herald.cli", "bench", "--target", "herald", "--url", url, "--api-key", api_key,
               "--publish-throughput", "--group-size", str(group_size), "--count", str(count),
               "--concurrency", str(concurrency)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if result.returncode != 0 or not result.stdout.strip():
        return {"failure": (result.stderr or result.stdout).strip()[-2000:]}
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def markdown(results: list[dict[str, Any]], info: dict[str, Any], command: str) -> str:
    lines = [f"Measured {info['date']} on {info['cpu']} ({info['cores']} cores), Python {info['python']}.", "",
             f"    {command}", "",
             "| database | recipients per publish | in flight | publishes | publishes/s | inbox items/s | p50 ms | p99 ms |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        if "failure" in r:
            lines.append(f"| {r['database']} | {r['group_size']:,} | | failed: {r['failure'].splitlines()[-1][:80]} | | | | |")
            continue
        lines.append(f"| {r['database']} | {r['group_size']:,} | {r['concurrency']} | {r['publishes']:,} | "
                     f"{r['publishes_per_s']:,} | {r['inbox_items_per_s']:,} | {r['publish_p50_ms']:,} | {r['publish_p99_ms']:,} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgres", help="comma list: sqlite, postgres")
    parser.add_argument("--group-size", type=int, default=10_000)
    parser.add_argument("--group-count", type=int, default=10, help="publishes to the group")
    parser.add_argument("--group-concurrency", type=int, default=1)
    parser.add_argument("--single-count", type=int, default=2000, help="single-user publishes")
    parser.add_argument("--single-concurrency", type=int, default=16)
    parser.add_argument("--postgres-admin-url", default=POSTGRES_ADMIN_URL)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "herald-bench" / time.strftime("publish-%Y%m%d-%H%M%S"))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.out.mkdir(parents=True, exist_ok=True)
    info, results = machine(), []
    command = "python scripts/bench_publish.py " + " ".join(sys.argv[1:])
    for database in [d.strip() for d in args.databases.split(",") if d.strip()]:
        server = herald_server(args.out / "logs", database, args.postgres_admin_url)
        try:
            server.start()
            for group_size, count, concurrency in ((args.group_size, args.group_count, args.group_concurrency),
                                                   (1, args.single_count, args.single_concurrency)):
                report = throughput(server.url, server.api_key, group_size, count, concurrency)
                report = {"database": database, "group_size": group_size, "concurrency": concurrency, **report}
                results.append(report)
                print(json.dumps(report), file=sys.stderr, flush=True)
        finally:
            server.stop()
        (args.out / "results.json").write_text(json.dumps({"machine": info, "command": command, "results": results}, indent=1))
    (args.out / "results.md").write_text(markdown(results, info, command))
    print(markdown(results, info, command))
    print(f"results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
