"""Prometheus metrics, one set per app (no module-level state), aggregated across ``--workers``.

Names follow the Prometheus conventions: a ``herald_`` prefix, base units in
the name (``_seconds``), ``_total`` on counters (added by the client), and
labels for dimensions with few values (``transport``, ``reason``, ``outcome``,
``operation``). docs/operations.md lists them all.

Several workers: ``herald serve --workers N`` points ``PROMETHEUS_MULTIPROC_DIR``
at a fresh private directory before the workers start. prometheus_client then
keeps every value in a file per process there, and ``render`` sums the files
of all workers (``MultiProcessCollector``), so whichever worker answers a
scrape answers for the whole server. Gauges say how they combine
(``multiprocess_mode``): connections add up over live workers, the fan-out lag
is the worst live worker's.

The gateway counts frames and latencies in plain ints (``delivery.connection.Stats``),
because a prometheus_client call per frame costs too much on the hot path.
``sync`` moves what those counts gained since the last call into real
counters and histograms, once a second (``sync_forever``) and before each
render; a custom collector would be simpler but is not aggregated in
multiprocess mode.
"""
from __future__ import annotations

import asyncio
import glob
import os
from typing import Any, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Delivery latency buckets (seconds): the gateway counts into these in plain ints (delivery/connection.py).
LATENCY_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SYNC_SECONDS = 1.0


class Metrics:
    def __init__(self) -> None:
        self.multiprocess_dir = os.environ.get(MULTIPROC_ENV) or None
        # The metric objects live here; in multiprocess mode their values are also in the shared files.
        self._own = CollectorRegistry(auto_describe=True)
        r = self._own
        self.connections = Gauge(
            "herald_connections", "Open subscriber connections", ["transport"], registry=r,
            multiprocess_mode="livesum")
        self.connects = Counter(
            "herald_connects", "Subscriber connections admitted by the connection rate limits (long polling: "
            "each poll)", ["transport"], registry=r)
        self.reconnects = Counter(
            "herald_reconnects", "Connections admitted that resume from a cursor (a subset of herald_connects)",
            ["transport"], registry=r)
        self.direct = Counter(
            "herald_direct_connections", "Connections served off the ASGI path once open, by the fast path "
            "(delivery/direct.py); below herald_connects under a server other than herald serve",
            ["transport"], registry=r)
        self.deliveries = Counter(
            "herald_deliveries", "Frames written to subscriber connections", ["transport"], registry=r)
        self.overflows = Counter(
            "herald_connection_overflows", "Slow-consumer queue overflows dropped to a resume from the inbox",
            ["transport"], registry=r)
        self.live_dropped = Counter(
            "herald_live_events_dropped", "Live-channel events dropped for connections too slow to take them",
            ["transport"], registry=r)
        self.writes = Counter(
            "herald_connection_writes", "Writes to subscriber connections; one may carry several frames (coalesced)",
            ["transport"], registry=r)
        self.delivery_latency = Histogram(
            "herald_delivery_latency_seconds", "Publish accepted to frame written, per live delivery",
            ["transport"], buckets=LATENCY_BOUNDS, registry=r)
        self.publishes = Counter(
            "herald_publishes", "Accepted publish requests", ["target"], registry=r)
        self.rate_limited = Counter(
            "herald_rate_limited", "Requests refused with 429 by a rate limit: publish (per API key), "
            "connect_node, connect_address", ["reason"], registry=r)
        self.quiet_deliveries = Counter(
            "herald_quiet_deliveries", "Live deliveries sent quiet (no toast, no push of their own) because "
            "their recipient was over HERALD_RECIPIENT_LIVE_PER_MINUTE", registry=r)
        self.inbox_writes = Counter(
            "herald_inbox_writes", "Inbox items created or updated by publishing", registry=r)
        self.idempotent_replays = Counter(
            "herald_idempotent_replays", "Publishes answered from an earlier idempotency key", registry=r)
        self.resets = Counter(
            "herald_stream_resets", "Streams told to reload because their cursor is older than retention", registry=r)
        self.pruned = Counter(
            "herald_pruned_items", "Inbox items deleted by retention", registry=r)
        self.acks = Counter(
            "herald_delivery_acks", "Items clients confirmed as delivered", ["transport"], registry=r)
        self.publish_seconds = Histogram(
            "herald_publish_duration_seconds", "Time to validate, persist and fan out one publish",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=r,
        )
        self.push_enqueued = Counter(
            "herald_push_enqueued", "Push messages queued for offline users (one per subscription or device)", registry=r
        )
        self.push_held = Counter(
            "herald_push_held", "Push messages held for a delivered receipt (users online at publish)", registry=r
        )
        self.push_digests = Counter(
            "herald_push_digests", "Digest pushes queued (\"N new notifications\", one per subscription or device) for "
            "offline users over the per-recipient limit", registry=r)
        self.push_sent = Counter(
            "herald_push_sent", "Push attempts of every provider by outcome: delivered, retry, gone, rejected, "
            "refused, expired, gave_up, read, acked, retracted", ["outcome"], registry=r
        )
        self.push_results = Counter(
            "herald_push_results", "Push attempts by provider (webpush, fcm, apns) and outcome: delivered is "
            "success, retry a retry, gone a removed token or subscription, the rest failures or skips",
            ["provider", "outcome"], registry=r)
        self.push_request_seconds = Histogram(
            "herald_push_request_seconds", "Time one request to a push service took, by provider", ["provider"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0), registry=r)
        self.push_delivery_seconds = Histogram(
            "herald_push_delivery_seconds", "From queueing a push to its acceptance by the push service, by provider "
            "(includes holds for a receipt and retries)", ["provider"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0), registry=r)
        self.webhook_events = Counter(
            "herald_webhook_events", "Webhook events queued, by type (one per event and endpoint)", ["type"], registry=r)
        self.webhook_emit_errors = Counter(
            "herald_webhook_emit_errors", "Webhook events lost before they were queued (database down, buffer full)",
            registry=r)
        self.webhook_attempts = Counter(
            "herald_webhook_attempts", "Webhook HTTP attempts by outcome: delivered, retry, failed (gave up), refused "
            "(address not allowed)", ["outcome"], registry=r)
        self.database_errors = Counter(
            "herald_database_errors", "Database failures by operation: request (answered 503), readiness, prune, schedule, expire",
            ["operation"], registry=r)
        self.redis_errors = Counter(
            "herald_redis_errors", "Redis failures by operation: publish (fan-out), subscribe, presence, ratelimit, readiness",
            ["operation"], registry=r)
        # For the gateway's fan-out (set by it): events waiting to be written, and how old the oldest is.
        self.fanout_queue_depth = Gauge(
            "herald_fanout_queue_depth", "Events waiting in fan-out queues to be written to connections",
            registry=r, multiprocess_mode="livesum")
        self.fanout_lag = Gauge(
            "herald_fanout_lag_seconds", "Age of the oldest event waiting in a fan-out queue (0 when none waits)",
            registry=r, multiprocess_mode="livemax")
        # Log consumers (herald.consume). Lag is the whole group's, read from the source, so each worker
        # reports the same number: the worst live worker's is the answer (livemax), not a sum.
        self.consume_messages = Counter(
            "herald_consume_messages", "Log messages handled, by source and outcome: published (idempotent "
            "replays included), dead_lettered", ["source", "outcome"], registry=r)
        self.consume_errors = Counter(
            "herald_consume_errors", "Log consumer failures, by source and reason: source (log unreachable), "
            "database, unavailable, rate_limited (publish retried later), unexpected", ["source", "reason"],
            registry=r)
        self.consume_lag = Gauge(
            "herald_consume_lag_messages", "Messages in the source not yet acknowledged by Herald", ["source"],
            registry=r, multiprocess_mode="livemax")
        self.consume_oldest_age = Gauge(
            "herald_consume_oldest_age_seconds", "Age of the oldest message not yet acknowledged (0 when none)",
            ["source"], registry=r, multiprocess_mode="livemax")
        self.consume_up = Gauge(
            "herald_consume_source_up", "1 while the source answers, 0 while it is unreachable", ["source"],
            registry=r, multiprocess_mode="livemin")
        # Scheduled delivery (schedule.py).
        self.scheduled = Counter(
            "herald_scheduled", "Scheduled publishes by outcome: scheduled (accepted), sent, cancelled, failed",
            ["outcome"], registry=r)
        self.scheduled_lateness = Histogram(
            "herald_scheduled_lateness_seconds", "From a scheduled publish's sendAt to the commit that sent it "
            "(a node that was down sends what fell due meanwhile, late by its downtime)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 30.0, 300.0, 3600.0), registry=r)
        self._gateway: Mapping[str, Any] = {}
        self._synced: dict[str, tuple[dict[str, int], list[int], float]] = {}
        self.registry = self._own
        if self.multiprocess_dir:
            # What the scrape and the admin dashboard read: every worker's files, summed.
            self.registry = CollectorRegistry()
            MultiProcessCollector(self.registry, path=self.multiprocess_dir)

    def set_fanout_backlog(self, queued_events: int, oldest_age_seconds: float) -> None:
        """For the gateway: the fan-out backlog now (call it periodically, or whenever it changes)."""
        self.fanout_queue_depth.set(queued_events)
        self.fanout_lag.set(oldest_age_seconds if queued_events else 0.0)

    def watch_gateway(self, stats: Mapping[str, Any]) -> None:
        """The gateway's ``Stats`` per transport (plain ints on the hot path); ``sync`` reads them."""
        self._gateway = stats

    def sync(self) -> None:
        """Add what the gateway's counts gained since the last call to the real counters and histogram."""
        counters = (("delivered", self.deliveries), ("overflows", self.overflows),
                    ("live_dropped", self.live_dropped), ("writes", self.writes))
        for transport, stats in list(self._gateway.items()):
            now = {name: getattr(stats, name) for name, _ in counters}
            counts, total = list(stats.latency_counts), stats.latency_sum
            before, before_counts, before_total = self._synced.get(transport, ({}, [0] * len(counts), 0.0))
            self._synced[transport] = (now, counts, total)
            for name, counter in counters:
                if now[name] > before.get(name, 0):
                    counter.labels(transport).inc(now[name] - before.get(name, 0))
            gained = [now_count - then for now_count, then in zip(counts, before_counts)]
            if any(gained):
                _observe_counts(self.delivery_latency.labels(transport), gained, total - before_total)

    async def sync_forever(self) -> None:
        while True:
            self.sync()
            await asyncio.sleep(SYNC_SECONDS)

    def render(self) -> bytes:
        self.sync()
        if self.multiprocess_dir:
            _forget_dead_workers(self.multiprocess_dir)
        return generate_latest(self.registry)

    def close(self) -> None:
        """This process stops serving: its live gauges leave the sums at once."""
        if self.multiprocess_dir:
            mark_process_dead(os.getpid(), self.multiprocess_dir)


def _observe_counts(child: Histogram, counts: list[int], total: float) -> None:
    """Add ``counts[i]`` observations to bucket i and ``total`` to the sum.

    prometheus_client has no bulk ``observe``, and replaying each observation
    would cost what the gateway's plain counters exist to avoid. Its histogram
    keeps one value per bucket (not cumulative) and a sum, which is what is
    added to here; tests/unit/test_metrics.py pins this against ``observe``.
    """
    buckets = child._buckets  # noqa: SLF001 - see the docstring
    for index, count in enumerate(counts):
        if count:
            buckets[index].inc(count)
    child._sum.inc(total)  # noqa: SLF001


def _forget_dead_workers(path: str) -> None:
    """Drop the live gauges of workers that died without cleaning up (killed, crashed)."""
    pids = set()
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        pid = name.rsplit("_", 1)[1].removesuffix(".db")
        if pid.isdigit():
            pids.add(int(pid))
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, path)
        except PermissionError:
            pass  # alive, someone else's
