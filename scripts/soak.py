"""Soak: steady publishing under churning connections, checking zero loss and flat memory and descriptors.

    python scripts/soak.py                       # 30 minutes, a fresh SQLite server
    python scripts/soak.py --duration 180 --rate 20 --connections 60
    python scripts/soak.py --database postgres --redis-url redis://127.0.0.1:6379/0
    python scripts/soak.py --url http://host:8000 --api-key KEY --pid 1234   # an existing server

A benchmark, not a test (CI does not run it). One publisher sends --rate notifications a second,
round-robin to --users users, one after the other, so each user's sequence is the order of the
202s. --connections streams read them: a share stays connected throughout, the others churn
(connected 5 to 40 s, away 0.5 to 3 s): half of the churners resume with Last-Event-ID, the other
half start afresh. At the end, every reader that stayed or resumed must have received every item
of its user since its first connection exactly once and in order; a fresh session must have
received a contiguous run. The server's RSS, open file descriptors and CPU are sampled from /proc.
Exit status 1 on any loss, duplicate, reset or stream error.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

POSTGRES_ADMIN_URL = os.environ.get("HERALD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Reader:
    number: int
    user: str
    kind: str  # "stay", "resume" or "fresh"
    first_cursor: int | None = None
    received: list[str] = field(default_factory=list)  # stay and resume: every id, across sessions
    sessions: list[tuple[int, list[str]]] = field(default_factory=list)  # fresh: (ready cursor, ids)
    connects: int = 0
    resets: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class Run:
    args: argparse.Namespace
    url: str
    api_key: str
    pid: int | None
    published: dict[str, list[str]] = field(default_factory=dict)  # user -> ids in sequence order
    publish_ms: list[float] = field(default_factory=list)
    publish_errors: int = 0
    samples: list[dict[str, float]] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)  # user -> subscriber token
    stop: asyncio.Event = field(default_factory=asyncio.Event)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def proc_sample(pid: int, started: float) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu_seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return {"t": time.monotonic() - started, "rss_mib": rss_kb / 1024, "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "cpu_s": cpu_seconds}


async def publisher(run: Run, users: list[str]) -> None:
    interval = 1 / run.args.rate
    async with httpx.AsyncClient(base_url=run.url, headers={"Authorization": f"Bearer {run.api_key}"}, timeout=30) as http:
        due = time.monotonic()
        n = 0
        while not run.stop.is_set():
            user = users[n % len(users)]
            started = time.perf_counter()
            try:
                response = await http.post("/api/publish", json={"to": {"users": [user]}, "type": "soak", "title": f"#{n}"})
            except httpx.HTTPError:
                run.publish_errors += 1
            else:
                if response.status_code == 202:
                    run.published[user].append(response.json()["id"])
                    run.publish_ms.append((time.perf_counter() - started) * 1000)
                else:
                    run.publish_errors += 1
            n += 1
            due += interval
            await asyncio.sleep(max(0.0, due - time.monotonic()))


async def session(run: Run, http: httpx.AsyncClient, reader: Reader, cursor: str | None, until: float) -> str | None:
    """One stream from connect to close; returns the last cursor it saw."""
    headers = {"Authorization": f"Bearer {run.tokens[reader.user]}", "Accept": "text/event-stream"}
    if cursor is not None:
        headers["Last-Event-ID"] = cursor
    reader.connects += 1
    ids: list[str] = []
    frame: dict[str, str] = {}
    async with http.stream("GET", "/api/notifications/stream", headers=headers) as response:
        if response.status_code != 200:
            raise RuntimeError(f"stream answered {response.status_code}")
        lines = response.aiter_lines()
        while True:
            remaining = until - time.monotonic()
            if run.stop.is_set():
                remaining = min(remaining, 5.0)  # the publisher stopped: read what is in flight, then leave
            if remaining <= 0:
                break
            try:
                line = await asyncio.wait_for(lines.__anext__(), remaining)
            except (asyncio.TimeoutError, StopAsyncIteration):
                break
            if line.startswith(":"):  # heartbeat
                continue
            if line:
                name, _, value = line.partition(":")
                frame[name] = value.removeprefix(" ")
                continue
            kind = frame.get("event")
            if kind == "ready":
                ready = int(frame.get("id", "0"))
                if reader.first_cursor is None:
                    reader.first_cursor = ready
                if reader.kind == "fresh":
                    reader.sessions.append((ready, ids))
            elif kind == "reset":
                reader.resets += 1
            elif kind == "notification":
                item_id = frame["data"].split('"id":"', 1)[1].split('"', 1)[0]
                (ids if reader.kind == "fresh" else reader.received).append(item_id)
                cursor = frame.get("id", cursor)
            frame = {}
    return cursor


async def reader_loop(run: Run, reader: Reader) -> None:
    rng = random.Random(reader.number)
    limits = httpx.Limits(max_connections=2, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=run.url, timeout=httpx.Timeout(30, read=None), limits=limits) as http:
        cursor: str | None = None
        while True:
            if reader.kind == "stay":
                until = float("inf")
            else:
                until = time.monotonic() + rng.uniform(5, 40)
            try:
                # A stayer reconnects only after an error (counted), and then resumes too.
                last = await session(run, http, reader, None if reader.kind == "fresh" else cursor, until)
                cursor = last if last is not None else cursor
            except (httpx.HTTPError, RuntimeError) as exc:
                reader.errors.append(repr(exc))
            if run.stop.is_set():
                return
            await asyncio.sleep(rng.uniform(0.5, 3.0))
            if run.stop.is_set() and reader.kind != "resume":
                return


async def sampler(run: Run, started: float) -> None:
    while not run.stop.is_set():
        if run.pid is not None:
            run.samples.append(proc_sample(run.pid, started))
        try:
            await asyncio.wait_for(run.stop.wait(), run.args.sample_seconds)
        except asyncio.TimeoutError:
            pass
    if run.pid is not None:
        run.samples.append(proc_sample(run.pid, started))


def check(run: Run, readers: list[Reader]) -> dict[str, int]:
    lost = duplicated = misordered = 0
    for reader in readers:
        items = run.published[reader.user]
        if reader.kind in ("stay", "resume"):
            expected = items[reader.first_cursor or 0:]
            got = reader.received
            duplicated += len(got) - len(set(got))
            lost += len(set(expected) - set(got))
            misordered += int(list(dict.fromkeys(got)) != [i for i in expected if i in set(got)])
        else:
            for ready, ids in reader.sessions:
                run_of = items[ready:ready + len(ids)]
                duplicated += len(ids) - len(set(ids))
                misordered += int(ids != run_of)
    return {"lost": lost, "duplicated": duplicated, "misordered": misordered,
            "resets": sum(r.resets for r in readers), "stream_errors": sum(len(r.errors) for r in readers)}


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


def report(run: Run, readers: list[Reader], verdict: dict[str, int], seconds: float) -> str:
    kinds = {kind: [r for r in readers if r.kind == kind] for kind in ("stay", "resume", "fresh")}
    published = sum(len(v) for v in run.published.values())
    received = sum(len(r.received) + sum(len(ids) for _, ids in r.sessions) for r in readers)
    rows = [
        ("duration", f"{seconds:.0f} s"),
        ("publishes accepted / failed", f"{published:,} / {run.publish_errors}"),
        ("publish rate", f"{published / seconds:.1f}/s (asked {run.args.rate}/s)"),
        ("publish latency p50 / p99", f"{pct(run.publish_ms, 0.5):.1f} / {pct(run.publish_ms, 0.99):.1f} ms"),
        ("readers stay / resume / fresh", " / ".join(str(len(kinds[k])) for k in ("stay", "resume", "fresh"))),
        ("stream connections opened", f"{sum(r.connects for r in readers):,}"),
        ("items received", f"{received:,}"),
        ("lost / duplicated / misordered", f"{verdict['lost']} / {verdict['duplicated']} / {verdict['misordered']}"),
        ("resets / stream errors", f"{verdict['resets']} / {verdict['stream_errors']}"),
    ]
    if run.samples:
        warm = [s for s in run.samples if s["t"] >= min(60.0, seconds * 0.2)] or run.samples
        cpu = (run.samples[-1]["cpu_s"] - run.samples[0]["cpu_s"]) / max(1.0, run.samples[-1]["t"] - run.samples[0]["t"])
        rows += [
            ("server RSS start / after warm-up / end / max", " / ".join(
                f"{v:.1f}" for v in (run.samples[0]["rss_mib"], warm[0]["rss_mib"], run.samples[-1]["rss_mib"],
                                     max(s["rss_mib"] for s in run.samples))) + " MiB"),
            ("server open fds start / after warm-up / end / max", " / ".join(
                str(int(v)) for v in (run.samples[0]["fds"], warm[0]["fds"], run.samples[-1]["fds"],
                                      max(s["fds"] for s in run.samples)))),
            ("server CPU", f"{cpu * 100:.0f}% of one core"),
        ]
    width = max(len(name) for name, _ in rows)
    lines = ["", "Soak summary", "-" * (width + 30)] + [f"{name:<{width}}  {value}" for name, value in rows]
    if run.samples:
        lines += ["", f"{'t (s)':>8} {'RSS MiB':>9} {'fds':>6} {'CPU s':>8}"]
        lines += [f"{s['t']:8.0f} {s['rss_mib']:9.1f} {s['fds']:6.0f} {s['cpu_s']:8.1f}" for s in run.samples]
    return "\n".join(lines)


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], str, str, list]:
    data_dir = Path(tempfile.mkdtemp(prefix="herald-soak-"))
    port, api_key = free_port(), "soak-" + secrets.token_hex(12)
    cleanups: list = [lambda: shutil.rmtree(data_dir, ignore_errors=True)]
    database_url = args.database if "://" in args.database else ""
    if args.database == "postgres":
        name = f"herald_soak_{os.getpid()}"
        subprocess.run(["psql", POSTGRES_ADMIN_URL, "-q", "-c", f'CREATE DATABASE "{name}"'], check=True, capture_output=True)
        database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
        cleanups.append(lambda: subprocess.run(["psql", POSTGRES_ADMIN_URL, "-q", "-c",
                                                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], capture_output=True))
    env = {**os.environ, "HERALD_DATA_DIR": str(data_dir), "HERALD_API_KEYS": api_key, "HERALD_SECRET": secrets.token_hex(32),
           "HERALD_DATABASE_URL": database_url, "HERALD_REDIS_URL": args.redis_url, "HERALD_PORT": str(port)}
    log = open(data_dir / "server.log", "ab")
    process = subprocess.Popen([sys.executable, "-m", "herald.cli", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return process, url, api_key, cleanups
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"herald did not start; see {data_dir / 'server.log'}")


async def soak(run: Run) -> int:
    args = run.args
    tag = secrets.token_hex(3)
    users = [f"soak-{tag}-{i}" for i in range(args.users)]
    run.published = {user: [] for user in users}
    async with httpx.AsyncClient(base_url=run.url, headers={"Authorization": f"Bearer {run.api_key}"}, timeout=30) as http:
        for user in users:
            run.tokens[user] = (await http.post("/api/tokens", json={"userId": user, "ttlSeconds": args.duration + 3600})).json()["token"]
    stayers = max(1, int(args.connections * args.stay_share))
    kinds = ["stay"] * stayers + [("resume", "fresh")[i % 2] for i in range(args.connections - stayers)]
    readers = [Reader(i, users[i % len(users)], kind) for i, kind in enumerate(kinds)]
    tasks = [asyncio.ensure_future(reader_loop(run, reader)) for reader in readers]
    await asyncio.sleep(2)  # the stayers' first connections are open before the first publish
    started = time.monotonic()
    background = [asyncio.ensure_future(publisher(run, users)), asyncio.ensure_future(sampler(run, started))]
    await asyncio.sleep(args.duration)
    run.stop.set()
    seconds = time.monotonic() - started
    await asyncio.gather(*background)
    await asyncio.wait(tasks, timeout=60)  # streams drain, resumers reconnect once more and catch up
    verdict = check(run, readers)
    print(report(run, readers, verdict, seconds))
    bad = {k: v for k, v in verdict.items() if v}
    print("\nverdict:", "zero loss, nothing twice, in order" if not bad else f"FAILED {bad}")
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=1800, help="seconds of publishing (default 30 minutes)")
    parser.add_argument("--rate", type=float, default=20, help="publishes per second")
    parser.add_argument("--connections", type=int, default=100, help="concurrent stream readers")
    parser.add_argument("--users", type=int, default=20, help="users the publishes and readers spread over")
    parser.add_argument("--stay-share", type=float, default=0.3, help="share of readers connected throughout")
    parser.add_argument("--sample-seconds", type=float, default=60, help="how often RSS and fds are sampled")
    parser.add_argument("--database", default="sqlite", help="sqlite, postgres, or a SQLAlchemy URL (own server only)")
    parser.add_argument("--redis-url", default="", help="Redis fan-out for the server this starts")
    parser.add_argument("--url", help="an already running server instead of a fresh one")
    parser.add_argument("--api-key", help="with --url: a producer key")
    parser.add_argument("--pid", type=int, help="with --url: the server's process id, to sample its memory")
    args = parser.parse_args()
    cleanups: list = []
    process = None
    if args.url:
        if not args.api_key:
            parser.error("--url needs --api-key")
        url, api_key, pid = args.url.rstrip("/"), args.api_key, args.pid
    else:
        process, url, api_key, cleanups = start_server(args)
        pid = process.pid
    try:
        return asyncio.run(soak(Run(args, url, api_key, pid)))
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        for cleanup in cleanups:
            cleanup()


if __name__ == "__main__":
    sys.exit(main())
