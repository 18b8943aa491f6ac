"""Metrics: the gateway's plain counts reach real counters, every worker is summed, errors are counted."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from herald.gateway import LATENCY_BOUNDS, Stats
from herald.metrics import Metrics
from tests.herald_server import (HeraldServer, RedisServer, _children, create_postgres_database,
                                 drop_postgres_database)
from tests.sse_client import open_stream
from tests.unit.test_ops import metric


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_sync_moves_what_the_gateway_counted_since_the_last_sync() -> None:
    metrics = Metrics()
    stats = {"sse": Stats(), "websocket": Stats()}
    metrics.watch_gateway(stats)
    stats["sse"].delivered += 5
    stats["sse"].overflows += 1
    stats["websocket"].delivered += 2
    metrics.sync()
    metrics.sync()  # nothing new: nothing added twice
    assert value(metrics, "herald_deliveries_total", transport="sse") == 5
    assert value(metrics, "herald_deliveries_total", transport="websocket") == 2
    assert value(metrics, "herald_connection_overflows_total", transport="sse") == 1
    stats["sse"].delivered += 3
    stats["poll-later"] = Stats()  # a transport that appears later is picked up
    stats["poll-later"].delivered += 1
    metrics.sync()
    assert value(metrics, "herald_deliveries_total", transport="sse") == 8
    assert value(metrics, "herald_deliveries_total", transport="poll-later") == 1


def test_synced_latencies_equal_the_same_observations_made_one_by_one() -> None:
    latencies = [0.001, 0.004, 0.02, 0.02, 0.3, 0.9, 7.0, 42.0]
    direct, synced = Metrics(), Metrics()
    stats = Stats()
    synced.watch_gateway({"sse": stats})
    for latency in latencies[:5]:
        direct.delivery_latency.labels("sse").observe(latency)
        stats.observe(time.time() - latency)
    synced.sync()
    for latency in latencies[5:]:
        direct.delivery_latency.labels("sse").observe(latency)
        stats.observe(time.time() - latency)
    synced.sync()
    for bound in (*LATENCY_BOUNDS, float("inf")):
        le = "+Inf" if bound == float("inf") else str(bound)
        assert value(synced, "herald_delivery_latency_seconds_bucket", transport="sse", le=le) == \
            value(direct, "herald_delivery_latency_seconds_bucket", transport="sse", le=le), le
    assert value(synced, "herald_delivery_latency_seconds_count", transport="sse") == len(latencies)
    assert value(synced, "herald_delivery_latency_seconds_sum", transport="sse") == pytest.approx(sum(latencies), abs=0.01)


def test_the_fanout_backlog_gauges_follow_what_the_gateway_reports() -> None:
    metrics = Metrics()
    metrics.set_fanout_backlog(120, 0.75)
    assert value(metrics, "herald_fanout_queue_depth") == 120
    assert value(metrics, "herald_fanout_lag_seconds") == 0.75
    metrics.set_fanout_backlog(0, 3.0)  # nothing waits: no lag, whatever the caller measured
    assert value(metrics, "herald_fanout_lag_seconds") == 0


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[HeraldServer]:
    redis = RedisServer().start()
    database = create_postgres_database()
    herald = HeraldServer(tmp_path / "herald", database, "--workers", "2", HERALD_REDIS_URL=redis.url).start()
    yield herald
    herald.stop()
    redis.stop()
    drop_postgres_database(database)


def _streams_per_worker(herald: HeraldServer) -> dict[int, int]:
    """Established connections on the server's port, by the worker process whose socket it is."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == herald.port and fields[3] == "01":
            inodes.add(f"socket:[{fields[9]}]")
    counts = {}
    assert herald.process is not None
    for pid in _children(herald.process.pid):
        with contextlib.suppress(OSError):
            if b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue  # multiprocessing's helper, not a worker
            counts[pid] = sum(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{pid}/fd"))
    return counts


async def test_metrics_of_two_workers_sum_the_deliveries_of_both(two_workers: HeraldServer, user_id: str) -> None:
    token = two_workers.token(user_id)
    async with contextlib.AsyncExitStack() as stack:
        streams = []
        # Keep opening streams until each worker holds some: the kernel picks the worker per connection.
        while len(streams) < 4 or min(_streams_per_worker(two_workers).values()) == 0:
            assert len(streams) < 40, f"connections never reached both workers: {_streams_per_worker(two_workers)}"
            stream = await stack.enter_async_context(open_stream(two_workers.url, token))
            await stream.until("ready")
            streams.append(stream)
        two_workers.publish(to={"users": [user_id]}, type="t", title="to every stream")
        for stream in streams:
            assert (await stream.until("notification")).json()["title"] == "to every stream"
        # Whichever worker answers the scrape answers for both (each syncs its counts every second).
        deadline = time.monotonic() + 10
        while metric(two_workers, "herald_deliveries_total", '{transport="sse"}') != len(streams):
            assert time.monotonic() < deadline, "the scrape never summed both workers' deliveries"
            await asyncio.sleep(0.2)
        for _ in range(6):
            assert metric(two_workers, "herald_deliveries_total", '{transport="sse"}') == len(streams)
            assert metric(two_workers, "herald_connections", '{transport="sse"}') == len(streams)
            assert metric(two_workers, "herald_connects_total", '{transport="sse"}') == len(streams)
    deadline = time.monotonic() + 10
    while metric(two_workers, "herald_connections", '{transport="sse"}') != 0:
        assert time.monotonic() < deadline, "closed connections still counted"
        await asyncio.sleep(0.2)


def test_database_failures_are_counted(fresh_server: HeraldServer) -> None:
    fresh_server.env.update(HERALD_DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:1/none",
                            HERALD_MIGRATE_ON_START="false")
    process = subprocess.Popen([sys.executable, "-m", "herald.cli", "serve"], env=fresh_server.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(fresh_server.url + "/healthz").status_code == 200:
                    break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert httpx.get(fresh_server.url + "/readyz", timeout=20).status_code == 503
        publish = httpx.post(fresh_server.url + "/api/publish", headers=fresh_server.headers(), timeout=30,
                             json={"to": {"users": ["u"]}, "type": "t", "title": "x"})
        assert publish.status_code == 503
        assert metric(fresh_server, "herald_database_errors_total", '{operation="readiness"}') == 1
        assert metric(fresh_server, "herald_database_errors_total", '{operation="request"}') == 1
    finally:
        process.kill()
        process.wait()


async def test_redis_failures_are_counted_and_publishing_goes_on(tmp_path: Path, user_id: str) -> None:
    redis = RedisServer().start()
    herald = HeraldServer(tmp_path / "herald", HERALD_REDIS_URL=redis.url).start()
    try:
        redis.stop()
        answer = httpx.post(herald.url + "/api/publish", headers=herald.headers(), timeout=30,
                            json={"to": {"users": [user_id]}, "type": "t", "title": "kept"})
        assert answer.status_code == 202
        assert httpx.get(herald.url + "/readyz", timeout=20).status_code == 503
        assert metric(herald, "herald_redis_errors_total", '{operation="ratelimit"}') >= 1
        assert metric(herald, "herald_redis_errors_total", '{operation="publish"}') == 1
        assert metric(herald, "herald_redis_errors_total", '{operation="readiness"}') == 1
    finally:
        herald.stop()
        redis.stop()


def test_the_grafana_dashboard_queries_only_metrics_herald_exposes() -> None:
    dashboard = json.loads((Path(__file__).parents[2] / "docs" / "grafana-dashboard.json").read_text())
    metrics = Metrics()
    stats = Stats()
    stats.delivered += 1
    stats.observe(time.time())
    metrics.watch_gateway({"sse": stats})
    metrics.sync()
    for family in (metrics.connections, metrics.connects, metrics.reconnects, metrics.overflows, metrics.publishes,
                   metrics.rate_limited, metrics.acks, metrics.push_sent, metrics.database_errors, metrics.redis_errors):
        family.labels("x")  # a labelled family shows its samples once it has a child
    for family in (metrics.consume_lag, metrics.consume_oldest_age, metrics.consume_up):
        family.labels("kafka")
    metrics.consume_messages.labels("kafka", "published")
    metrics.consume_errors.labels("kafka", "source")
    exposed = {sample.name for family in metrics.registry.collect() for sample in family.samples}
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"\bherald_[a-z_]+", target["expr"])}
    assert len(dashboard["panels"]) >= 10
    assert queried and queried <= exposed, sorted(queried - exposed)
    titles = " ".join(panel["title"] for panel in dashboard["panels"]).lower()
    for topic in ("connections", "reconnects", "deliveries", "latency", "queue depth", "lag", "push", "publishes",
                  "refusals", "redis"):
        assert topic in titles, topic
