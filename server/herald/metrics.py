"""Prometheus metrics, one registry per app (no module-level state)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.connections = Gauge(
            "herald_connections", "Open subscriber connections", ["transport"], registry=r
        )
        self.deliveries = Counter(
            "herald_deliveries", "Frames written to subscriber connections", ["transport"], registry=r
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
        self.overflows = Counter(
            "herald_connection_overflows", "Slow-consumer queue overflows dropped to a resume", registry=r
        )
        self.pruned = Counter(
            "herald_pruned_items", "Inbox items deleted by retention", registry=r
        )
        self.publish_seconds = Histogram(
            "herald_publish_duration_seconds", "Time to validate, persist and fan out one publish",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=r,
        )
        self.push_enqueued = Counter(
            "herald_push_enqueued", "Web Push messages queued for offline users (one per subscription)", registry=r
        )
        self.push_sent = Counter(
            "herald_push_sent", "Web Push attempts by outcome: delivered, retry, gone, rejected, refused, expired, "
            "gave_up, read", ["outcome"], registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
