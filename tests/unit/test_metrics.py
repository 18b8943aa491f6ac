"""Metrics: the gateway's plain counts reach real counters, every worker is summed, errors are counted."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from herald.delivery.connection import Stats
from herald.metrics import LATENCY_BOUNDS, Metrics


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
    exposed = {sample.name for family in metrics.registry.collect() for sample in family.samples}
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"\bherald_[a-z_]+", target["expr"])}
    assert len(dashboard["panels"]) >= 10
    assert queried and queried <= exposed, sorted(queried - exposed)
    titles = " ".join(panel["title"] for panel in dashboard["panels"]).lower()
    for topic in ("connections", "reconnects", "deliveries", "latency", "queue depth", "lag", "push", "publishes",
                  "refusals", "redis"):
        assert topic in titles, topic
