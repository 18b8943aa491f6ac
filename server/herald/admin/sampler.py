"""History for the admin dashboard, read from the same registry that ``/metrics`` renders.

Every ``interval_seconds`` the sampler reads the Prometheus registry and keeps
the numbers in a ring (an hour by default), so the dashboard can draw rates
and percentiles over time without a Prometheus server. Nothing here counts
on its own: a number the registry does not have (a latency histogram, a
rate-limit counter) is reported as ``None``, "not measured yet".

With ``--workers N`` the registry sums every worker (metrics.py), as
``/metrics`` does; each worker keeps its own ring of those samples.
"""
from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Sequence

from prometheus_client import CollectorRegistry

LATENCY_METRIC = "herald_delivery_latency_seconds"
PUSH_OK = {"delivered"}
PUSH_FAILED = {"gone", "rejected", "refused", "expired", "gave_up"}
Buckets = tuple[tuple[float, float], ...]  # cumulative (upper bound, count), ascending


@dataclass(frozen=True)
class Sample:
    at: float
    connections: float
    publishes: float
    inbox_writes: float
    push_ok: float
    push_failed: float
    rate_limited: float | None
    latency: Buckets | None


@dataclass(frozen=True)
class Point:
    at: float
    value: float | None


def read_registry(registry: CollectorRegistry, at: float | None = None) -> Sample:
    values: dict[str, float] = {}
    push_ok = push_failed = 0.0
    rate_limited: float | None = None
    latency: dict[float, float] = {}
    for family in registry.collect():
        for s in family.samples:
            if family.name == "herald_push_sent" and s.name.endswith("_total"):
                outcome = s.labels.get("outcome", "")
                push_ok += s.value if outcome in PUSH_OK else 0.0
                push_failed += s.value if outcome in PUSH_FAILED else 0.0
            elif "rate_limited" in family.name and s.name.endswith("_total"):
                rate_limited = (rate_limited or 0.0) + s.value
            elif family.name == LATENCY_METRIC and s.name.endswith("_bucket"):
                bound = float(s.labels["le"])
                latency[bound] = latency.get(bound, 0.0) + s.value
            elif not s.name.endswith(("_created", "_bucket", "_sum", "_count")):
                values[s.name] = values.get(s.name, 0.0) + s.value
    return Sample(
        at=time.time() if at is None else at,
        connections=values.get("herald_connections", 0.0),
        publishes=values.get("herald_publishes_total", 0.0),
        inbox_writes=values.get("herald_inbox_writes_total", 0.0),
        push_ok=push_ok, push_failed=push_failed, rate_limited=rate_limited,
        latency=tuple(sorted(latency.items())) if latency else None,
    )


def quantile(q: float, buckets: Buckets) -> float | None:
    """Prometheus' ``histogram_quantile``: linear within the bucket that holds rank ``q``."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # beyond the largest finite bucket: its bound is all we know
            width = count - lower_count
            return lower_bound + (bound - lower_bound) * ((rank - lower_count) / width if width else 1.0)
        lower_bound, lower_count = bound, count
    return lower_bound


def bucket_delta(newer: Buckets | None, older: Buckets | None) -> Buckets | None:
    if newer is None:
        return None
    before = dict(older or ())
    return tuple((bound, count - before.get(bound, 0.0)) for bound, count in newer)


class MetricsSampler:
    def __init__(self, registry: CollectorRegistry, interval_seconds: float = 5.0, keep_seconds: float = 3600.0) -> None:
        self.registry = registry
        self.interval_seconds = interval_seconds
        self.samples: deque[Sample] = deque(maxlen=max(2, int(keep_seconds / interval_seconds)))

    def sample(self, at: float | None = None) -> Sample:
        taken = read_registry(self.registry, at)
        self.samples.append(taken)
        return taken

    def now(self) -> Sample:
        """A fresh reading that is not kept: what the page shows as "now"."""
        return read_registry(self.registry)

    def history(self) -> list[Sample]:
        return list(self.samples)

    # Derived series, one point per interval between two samples.

    def per_minute(self, field: str, samples: Sequence[Sample] | None = None) -> list[Point]:
        samples = self.history() if samples is None else samples
        points = []
        for older, newer in _pairs(samples):
            a, b = getattr(older, field), getattr(newer, field)
            rate = None if a is None or b is None else max(0.0, b - a) * 60.0 / (newer.at - older.at)
            points.append(Point(newer.at, rate))
        return points

    def gauge(self, field: str) -> list[Point]:
        return [Point(s.at, getattr(s, field)) for s in self.history()]

    def latency(self, q: float) -> list[Point]:
        return [Point(newer.at, quantile(q, bucket_delta(newer.latency, older.latency) or ()))
                for older, newer in _pairs(self.history())]

    def recent_rate(self, field: str, current: Sample, window_seconds: float = 60.0) -> float | None:
        """Per minute over about the last ``window_seconds`` (shorter right after start)."""
        older = self._at_least(window_seconds, current)
        if older is None or getattr(current, field) is None:
            return None
        before = getattr(older, field) or 0.0
        return max(0.0, getattr(current, field) - before) * 60.0 / (current.at - older.at)

    def recent_latency(self, q: float, current: Sample, window_seconds: float = 300.0) -> float | None:
        """Percentile of the observations in about the last ``window_seconds`` (all of them before that)."""
        if current.latency is None:
            return None
        older = self._at_least(window_seconds, current)
        return quantile(q, bucket_delta(current.latency, older.latency if older else None) or ())

    def _at_least(self, seconds: float, current: Sample) -> Sample | None:
        """The newest kept sample at least ``seconds`` older than ``current``, else the oldest one."""
        chosen = None
        for sample in self.samples:
            if sample.at >= current.at:
                break
            if chosen is None or current.at - sample.at >= seconds:
                chosen = sample
        return chosen


def _pairs(samples: Sequence[Sample]) -> Iterable[tuple[Sample, Sample]]:
    return ((a, b) for a, b in zip(samples, samples[1:]) if b.at > a.at)
