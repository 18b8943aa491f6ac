"""The coordinator of ``herald bench``: prepare the target, start the load processes, publish, report."""
from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import statistics
import sys
import time
from array import array
from collections import Counter
from typing import Any

from herald.bench.load import CONNECTIONS_PER_PROCESS, CONNECTIONS_PER_SOURCE_ADDRESS, OPENING_K, watch_pipe, worker_main
from herald.bench.rate import publish_at_rate
from herald.bench.report import percentile_ms, server_rss_kb
from herald.bench.targets import BenchError, HeraldTarget, PeerTarget


def plan(args: argparse.Namespace, host: str) -> tuple[int, list[str]]:
    """Load processes and source addresses for the requested streams."""
    processes = args.processes or max(1, math.ceil(args.connections / CONNECTIONS_PER_PROCESS))
    spec = args.source_addresses.strip()
    if spec and not spec.isdigit():
        return processes, [ip.strip() for ip in spec.split(",") if ip.strip()]
    if not spec and not host.startswith("127."):
        return processes, []  # a remote server: let the kernel pick the route's address
    count = int(spec) if spec else math.ceil(args.connections / CONNECTIONS_PER_SOURCE_ADDRESS)
    return processes, [f"127.0.0.{i}" for i in range(1, max(1, min(count, 254)) + 1)]


STOP_TIMEOUT_SECONDS = 60.0


class Link:
    """One load process and its end of the pipe."""

    def __init__(self, index: int, process: Any, pipe: Any) -> None:
        self.index = index
        self.process = process
        self.pipe = pipe
        self.replies: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self.connected = 0
        self.alive = True


class Fleet:
    """The load processes; ``done`` collects, per broadcast, when each process saw it everywhere."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.links: list[Link] = []
        self.done: dict[int, dict[int, float]] = {}
        self.changed = asyncio.Event()

    def start(self, configs: list[dict[str, Any]]) -> None:
        # spawn: a fresh interpreter per process, so no event loop or pipe is inherited.
        context = multiprocessing.get_context("spawn")
        for index, config in enumerate(configs):
            ours, theirs = context.Pipe()
            process = context.Process(target=worker_main, args=(theirs, config), daemon=True, name=f"herald-bench-{index}")
            process.start()
            theirs.close()
            link = Link(index, process, ours)
            self.links.append(link)
            watch_pipe(self.loop, ours, self._readable, link)

    def _readable(self, link: Link) -> None:
        try:
            message = link.pipe.recv()
        except (EOFError, OSError):
            self.loop.remove_reader(link.pipe.fileno())
            link.alive = False
            link.replies.put_nowait(("dead",))
            self.changed.set()
            return
        if message[0] == "done":
            self.done.setdefault(message[1], {})[link.index] = message[2]
            self.changed.set()
        else:
            link.replies.put_nowait(message)

    async def reply(self, link: Link, kind: str, timeout: float | None = None) -> dict[str, Any] | int:
        message = await asyncio.wait_for(link.replies.get(), timeout)
        if message[0] != kind:
            raise BenchError(f"load process {link.index} {'died' if message[0] == 'dead' else 'said ' + message[0]}")
        return message[1]  # type: ignore[no-any-return]

    async def ready(self) -> list[dict[str, Any]]:
        reports = [await self.reply(link, "ready") for link in self.links]
        for link, report in zip(self.links, reports):
            link.connected = report["connected"]  # type: ignore[index]
        return reports  # type: ignore[return-value]

    async def wait_done(self, k: int, timeout: float) -> float:
        """When broadcast k had reached every live stream of every process."""
        expected = {link.index for link in self.links if link.connected}
        async with asyncio.timeout(timeout):
            while not expected <= self.done.get(k, {}).keys():
                if not all(link.alive for link in self.links):
                    raise BenchError("a load process died")
                self.changed.clear()
                await self.changed.wait()
        return max(self.done[k].values(), default=time.time())

    async def count(self) -> int:
        live = [link for link in self.links if link.alive]
        for link in live:
            link.pipe.send(("count",))
        return sum([await self.reply(link, "count", STOP_TIMEOUT_SECONDS) for link in live])  # type: ignore[misc]

    async def stop(self) -> list[dict[str, Any]]:
        results = []
        for link in self.links:
            if link.alive:
                link.pipe.send(("stop",))
        for link in self.links:
            if link.alive:
                results.append(await self.reply(link, "result", STOP_TIMEOUT_SECONDS))
        return results  # type: ignore[return-value]

    def close(self) -> None:
        for link in self.links:
            if link.alive:
                self.loop.remove_reader(link.pipe.fileno())
            link.pipe.close()
            link.process.join(5)
            if link.process.is_alive():
                link.process.kill()
                link.process.join(5)


async def measure_fanout(args: argparse.Namespace) -> dict[str, Any]:
    if args.connections < 1:
        raise BenchError("--connections must be at least 1")
    users = args.users or args.connections
    if not 1 <= users <= args.connections:
        raise BenchError("--users must be between 1 and --connections")
    if args.target == "herald":
        target: HeraldTarget | PeerTarget = HeraldTarget(args.url, args.api_key, args.audience, args.transport, args.secret)
    else:
        target = PeerTarget(args.url, args.transport)
    processes, sources = plan(args, target.host)
    started = time.perf_counter()
    requests = await target.setup(args.connections, users)
    setup_seconds = time.perf_counter() - started
    rss_before = server_rss_kb(args.server_pid) if args.server_pid else None
    if args.server_pid and rss_before is None:
        print(f"herald bench: no process {args.server_pid} here: server memory is not reported", file=sys.stderr)
    broadcasts = 0 if args.rate else args.broadcasts
    configs = [{"host": target.host, "port": target.port, "kind": target.kind, "broadcasts": broadcasts,
                "hello": target.hello, "websocket": args.transport == "websocket",
                "requests": requests[w::processes], "sources": sources[w % len(sources):] + sources[:w % len(sources)]
                if sources else [], "concurrency": args.connect_concurrency, "timeout": args.connect_timeout}
               for w in range(processes)]
    fleet = Fleet()
    opening: dict[str, Any] = {}
    try:
        fleet.start(configs)
        if args.open_publish_rate:
            ready, opening = await _opening_under_load(target, fleet, args)
        else:
            ready = await fleet.ready()
        connected = sum(r["connected"] for r in ready)
        errors: Counter[str] = Counter()
        for r in ready:
            errors.update(r["errors"])
        await asyncio.sleep(args.settle)
        rss_after = server_rss_kb(args.server_pid) if args.server_pid else None
        if args.rate:
            stats = await _at_rate(target, fleet, args, connected)
        else:
            stats = await _broadcasts(target, fleet, args, connected)
        results = await fleet.stop()
    finally:
        fleet.close()
        try:
            await target.cleanup()
        except (BenchError, OSError, asyncio.IncompleteReadError):
            pass  # the report matters more than tidying bench groups

    latencies = array("d")
    for result in results:
        latencies.frombytes(result["latencies"])
    ordered = sorted(latencies)
    report: dict[str, Any] = {
        "target": target.kind, "url": args.url, "mode": "rate" if args.rate else "broadcast",
        "transport": args.transport, "audience": args.audience if args.target == "herald" else None,
        "connections": args.connections, "users": users if args.target == "herald" else None,
        "connected": connected, "errors": sum(errors.values()), "error_kinds": dict(errors),
        "dropped": sum(r["dropped"] for r in results),
        **stats,
        "deliveries": sum(r["deliveries"] for r in results),
        "p50_ms": percentile_ms(ordered, 0.5), "p99_ms": percentile_ms(ordered, 0.99),
        "max_ms": percentile_ms(ordered, 1.0),
        "setup_seconds": round(setup_seconds, 2),
        "connect_seconds": round(max(r["connect_seconds"] for r in ready), 2),
        **_opens(ready, connected), **opening,
        "load_process_count": processes, "source_addresses": len(sources),
        "load_maxrss_mb": round(max(r["maxrss_kb"] for r in results) / 1024, 1) if results else None,
        # CPU the load processes used after opening their streams: it competed with the server.
        "load_cpu_seconds": round(sum(r["cpu_seconds"] for r in results), 2),
    }
    if args.rate:
        report["deliveries_per_s"] = round(report["deliveries"] / stats["publish_seconds"]) if stats["publish_seconds"] else 0
    if rss_before is not None and rss_after is not None:
        report["server_rss_mb_before"] = round(rss_before / 1024, 1)
        report["server_rss_mb_after"] = round(rss_after / 1024, 1)
        report["rss_per_connection_kb"] = round((rss_after - rss_before) / connected, 2) if connected else None
    return {key: value for key, value in report.items() if value is not None}


async def _broadcasts(target: HeraldTarget | PeerTarget, fleet: Fleet, args: argparse.Namespace,
                      connected: int) -> dict[str, Any]:
    spans: list[float] = []
    failure = None
    for k in range(args.broadcasts if connected else 0):
        try:
            sent = await target.broadcast(k)
            spans.append(await fleet.wait_done(k, args.timeout) - sent)
        except TimeoutError:
            failure = f"broadcast {k} did not reach every stream within {args.timeout:g} s"
            break
        except (BenchError, OSError, asyncio.IncompleteReadError) as exc:
            failure = f"broadcast {k}: {exc or type(exc).__name__}"
            break
        await asyncio.sleep(args.gap)
    median = statistics.median(spans) if spans else None
    stats: dict[str, Any] = {
        "broadcasts": len(spans), "expected_deliveries": connected * len(spans),
        "deliveries_per_s": round(connected / median) if median else None,
        "broadcast_span_median_ms": round(median * 1000, 1) if median is not None else None,
        "broadcast_spans_ms": [round(span * 1000, 1) for span in spans],
    }
    if failure:
        stats["failure"] = failure
    return stats


async def _at_rate(target: HeraldTarget | PeerTarget, fleet: Fleet, args: argparse.Namespace,
                   connected: int) -> dict[str, Any]:
    stats = await publish_at_rate(target, args.rate, args.publishers, total=max(1, round(args.rate * args.duration)))
    deadline = time.monotonic() + args.timeout
    while await fleet.count() < stats["expected_deliveries"] and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    return stats


def _opens(ready: list[dict[str, Any]], connected: int) -> dict[str, Any]:
    """Streams opened per second over every load process: from the first process's first open to the last ready."""
    span = max(r["connect_ended"] for r in ready) - min(r["connect_began"] for r in ready)
    return {"open_seconds": round(span, 2), "opens_per_s": round(connected / span) if span > 0 else None}


async def _opening_under_load(target: HeraldTarget | PeerTarget, fleet: Fleet,
                              args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Publish at ``--open-publish-rate`` to random users for as long as the streams are opening."""
    if args.target != "herald":
        raise BenchError("--open-publish-rate needs --target herald (a peer's publish is a broadcast)")
    done = asyncio.Event()
    publishing = asyncio.create_task(publish_at_rate(target, args.open_publish_rate, args.publishers, stop=done,
                                                     first_k=OPENING_K))
    try:
        ready = await fleet.ready()
    finally:
        done.set()
        stats = await publishing
    figures = ("publishes", "publish_errors", "publish_error_kinds", "publish_rate", "publish_p50_ms", "publish_p99_ms")
    return ready, {f"open_{name}": stats[name] for name in figures}
