"""Producers on a durable log: Herald consumes NATS JetStream, Redis Streams, a PostgreSQL outbox and Kafka.

``base`` is the one loop (key order, idempotency, backpressure, dead letters,
lag); each sibling module is a thin source. Every source is off until its
address is configured (``HERALD_CONSUME_*``, docs/consumers.md), and runs in
``herald serve`` or on its own in ``herald consume``.
"""
from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from herald.consume.base import Consumer, Options, Source
from herald.consume.dead_letters import DeadLetters

if TYPE_CHECKING:
    from herald.db import Database
    from herald.metrics import Metrics
    from herald.publish import Publisher
    from herald.settings import Settings


def sources(settings: Settings) -> list[Source]:
    """The sources the settings turn on; their client libraries are imported only then."""
    name = settings.consume_name or f"{socket.gethostname()}-{os.getpid()}"
    found: list[Source] = []
    if settings.consume_nats_url:
        from herald.consume.nats import NatsSource

        found.append(NatsSource(settings.consume_nats_url, settings.consume_nats_stream, settings.consume_nats_subjects,
                                settings.consume_nats_durable, settings.consume_nats_filter_subject,
                                settings.consume_nats_ack_wait_seconds))
    if settings.consume_redis_url:
        from herald.consume.redis import RedisSource

        found.append(RedisSource(settings.consume_redis_url, settings.consume_redis_streams,
                                 settings.consume_redis_group, name, settings.consume_redis_claim_idle_seconds))
    if settings.consume_outbox_url:
        from herald.consume.outbox import OutboxSource

        found.append(OutboxSource(settings.consume_outbox_url))
    if settings.consume_kafka_bootstrap_servers:
        from herald.consume.kafka import KafkaSource

        found.append(KafkaSource(settings.consume_kafka_bootstrap_servers, settings.consume_kafka_topics,
                                 settings.consume_kafka_group, name, settings.consume_name or None))
    return found


def build_consumers(settings: Settings, publisher: Publisher, db: Database, metrics: Metrics) -> list[Consumer]:
    options = Options(
        batch_size=settings.consume_batch_size, concurrency=settings.consume_concurrency,
        poll_seconds=settings.consume_poll_seconds, retry_base_seconds=settings.consume_retry_base_seconds,
        retry_max_seconds=settings.consume_retry_max_seconds, max_attempts=settings.consume_max_attempts,
        lag_interval_seconds=settings.consume_lag_interval_seconds)
    dead_letters = DeadLetters(db)
    return [Consumer(source, publisher, dead_letters, metrics, options) for source in sources(settings)]


def statuses(consumers: list[Consumer]) -> dict[str, str]:
    """Each source's state for /readyz: ``ok``, or what is wrong (unreachable, paused for the database)."""
    result = {}
    for consumer in consumers:
        if not consumer.health.up:
            result[consumer.name] = consumer.health.problem
        elif consumer.paused:
            result[consumer.name] = f"paused: {consumer.paused}"
        else:
            result[consumer.name] = "ok"
    return result
