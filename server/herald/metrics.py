"""Prometheus metrics, one registry per app (no module-level state)."""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.connections = Gauge(
            "herald_connections", "Open subscriber connections", ["transport"], registry=r
        )
        self.publishes = Counter(
            "herald_publishes", "Accepted publish requests", ["target"], registry=r
        )
        self.inbox_writes = Counter(
            "herald_inbox_writes", "Inbox items created or updated by publishing", registry=r
        )
        self.idempotent_replays = Counter(
            "herald_idempotent_replays", "Publishes answered from an earlier idempotency key", registry=r
        )
        self.resets = Counter(
            "herald_stream_resets", "Streams told to reload because their cursor is older than retention", registry=r
        )
        self.pruned = Counter(
            "herald_pruned_items", "Inbox items deleted by retention", registry=r
        )
        self.acks = Counter(
            "herald_delivery_acks", "Items clients confirmed as delivered", ["transport"], registry=r
        )
        self.publish_seconds = Histogram(
            "herald_publish_duration_seconds", "Time to validate, persist and fan out one publish",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=r,
        )
        self.push_enqueued = Counter(
            "herald_push_enqueued", "Web Push messages queued for offline users (one per subscription)", registry=r
        )
        self.push_held = Counter(
            "herald_push_held", "Web Push messages held for a delivered receipt (users online at publish)", registry=r
        )
        self.push_sent = Counter(
            "herald_push_sent", "Web Push attempts by outcome: delivered, retry, gone, rejected, refused, expired, "
            "gave_up, read, acked", ["outcome"], registry=r
        )

    def watch_gateway(self, stats: Mapping[str, Any]) -> None:
        """Expose the gateway's per-transport counts (plain ints on the hot path) as counters."""
        self.registry.register(_GatewayCollector(stats))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _GatewayCollector(Collector):
    def __init__(self, stats: Mapping[str, Any]) -> None:
        self.stats = stats

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        deliveries = CounterMetricFamily("herald_deliveries", "Frames written to subscriber connections",
                                         labels=["transport"])
        overflows = CounterMetricFamily("herald_connection_overflows",
                                        "Slow-consumer queue overflows dropped to a resume from the inbox",
                                        labels=["transport"])
        live_dropped = CounterMetricFamily("herald_live_events_dropped",
                                           "Live-channel events dropped for connections too slow to take them",
                                           labels=["transport"])
        for transport, stats in sorted(self.stats.items()):
            deliveries.add_metric([transport], stats.delivered)
            overflows.add_metric([transport], stats.overflows)
            live_dropped.add_metric([transport], stats.live_dropped)
        yield deliveries
        yield overflows
        yield live_dropped
        from herald.connection import LATENCY_BOUNDS

        latency = HistogramMetricFamily("herald_delivery_latency_seconds",
                                        "Publish accepted to frame written, per live delivery", labels=["transport"])
        for transport, stats in sorted(self.stats.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*LATENCY_BOUNDS, float("inf")), stats.latency_counts):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            latency.add_metric([transport], buckets, stats.latency_sum)
        yield latency
