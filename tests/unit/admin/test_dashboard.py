"""The dashboard's numbers: read from the /metrics registry, rates and percentiles over time, small SVG charts."""
from __future__ import annotations

import pytest

from herald.admin.dashboard import cards, chart
from herald.admin.sampler import MetricsSampler, Point, quantile, read_registry
from herald.metrics import Metrics


def test_rates_per_minute_come_from_counter_differences() -> None:
    metrics = Metrics()
    sampler = MetricsSampler(metrics.registry, interval_seconds=5)
    sampler.sample(at=1000)
    metrics.publishes.labels("users").inc(10)
    metrics.publishes.labels("group").inc(5)
    metrics.inbox_writes.inc(300)
    sampler.sample(at=1030)
    assert [p.value for p in sampler.per_minute("publishes")] == [30.0]
    metrics.inbox_writes.inc(60)
    # "Now" compares with the newest sample at least a minute older.
    assert sampler.recent_rate("inbox_writes", read_registry(metrics.registry, at=1090)) == pytest.approx(60.0)
    assert sampler.recent_rate("inbox_writes", read_registry(metrics.registry, at=1040)) == pytest.approx(360 * 60 / 40)


def test_connections_and_push_outcomes_are_read_by_label() -> None:
    metrics = Metrics()
    metrics.connections.labels("sse").set(3)
    metrics.connections.labels("ws").set(2)
    metrics.push_sent.labels("delivered").inc(7)
    metrics.push_sent.labels("gone").inc(1)
    metrics.push_sent.labels("gave_up").inc(1)
    metrics.push_sent.labels("retry").inc(4)  # not an outcome yet
    sample = MetricsSampler(metrics.registry).sample()
    assert (sample.connections, sample.push_ok, sample.push_failed) == (5, 7, 2)
    assert sample.latency is None and sample.rate_limited is None


def test_latency_percentiles_follow_prometheus_histogram_quantile() -> None:
    buckets = ((0.01, 50.0), (0.1, 90.0), (1.0, 100.0), (float("inf"), 100.0))
    assert quantile(0.5, buckets) == pytest.approx(0.01)
    assert quantile(0.7, buckets) == pytest.approx(0.01 + 0.09 * 0.5)
    assert quantile(0.95, buckets) == pytest.approx(0.1 + 0.9 * 0.5)
    assert quantile(0.5, ((1.0, 0.0), (float("inf"), 0.0))) is None


def test_a_latency_histogram_and_a_rate_limit_counter_are_shown_once_they_exist() -> None:
    metrics = Metrics()
    sampler = MetricsSampler(metrics.registry)
    sampler.sample(at=1.0)
    shown = {card.title: card for card in cards(sampler, sampler.now())}
    assert shown["Delivery latency"].value == "not measured yet"
    assert shown["Rate-limited requests"].value == "not measured yet"

    for _ in range(9):
        metrics.delivery_latency.labels("sse").observe(0.003)
    metrics.delivery_latency.labels("websocket").observe(0.3)
    metrics.rate_limited.labels("publish").inc(4)
    shown = {card.title: card for card in cards(sampler, sampler.now())}
    assert shown["Delivery latency"].value.startswith("p50 ")
    assert "p99" in shown["Delivery latency"].note
    assert shown["Rate-limited requests"].value.endswith("/min")


def test_charts_are_svg_drawn_from_numbers_with_gaps_for_unknowns() -> None:
    svg = chart([("s1", [Point(0, 1), Point(5, 4), Point(10, None), Point(15, 2), Point(20, 3)])], "Test", "/min")
    assert svg.startswith("<svg") and svg.count("<polyline") == 2
    assert "peak 4/min" in svg
    assert "Not enough history" in chart([("s1", [Point(0, 1)])], "Test")


