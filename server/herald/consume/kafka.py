"""Kafka (aiokafka): a consumer group with manual commits, made only after the publish committed.

A record's value is the publish request JSON. Its ordering key is the record
key (key by user id: the key picks the partition, and a partition is read by
one member of the group at a time, so one user's records keep their order
across nodes too); a record without a key is ordered within its partition.
Its idempotency key is ``kafka:<topic>:<partition>:<offset>``.

Kafka commits a position, not single records: the offset committed for a
partition is the lowest one Herald still holds (or one past the last fetched),
so a record is never skipped even while the loop retries an earlier one. A
partition taken away by a rebalance forgets what it held: the new owner starts
from the committed offset, and the records published twice are answered by
their idempotency keys.

Tested against the ``noida-db`` Kafka-protocol emulator (docs/consumers.md):
no Apache Kafka broker installs on the machines Herald is built on.
"""
from __future__ import annotations

import time
from typing import Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import IllegalStateError

from herald.consume.base import Lag, Message, Source


class KafkaSource(Source):
    name = "kafka"

    def __init__(self, bootstrap_servers: Sequence[str], topics: Sequence[str], group: str, client_id: str,
                 instance_id: str | None = None) -> None:
        self.bootstrap_servers = list(bootstrap_servers)
        self.topics = list(topics)
        self.group = group
        self.client_id = client_id
        self.instance_id = instance_id
        self.consumer: AIOKafkaConsumer | None = None
        self._held: dict[TopicPartition, dict[int, float]] = {}  # offsets fetched, not yet acked -> timestamp
        self._next: dict[TopicPartition, int] = {}  # one past the last offset fetched
        self._generation: dict[TopicPartition, int] = {}  # bumped on each assignment: older acks are stale
        self._held_since: dict[TopicPartition, float] = {}

    async def open(self) -> None:
        if self.consumer is not None:
            return
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers, group_id=self.group, client_id=self.client_id,
            enable_auto_commit=False, auto_offset_reset="earliest", request_timeout_ms=10_000,
            # Static membership (KIP-345) when the node has a stable name: a node restarted after a crash
            # takes its own place back at once instead of waiting for the broker to expire the dead member.
            group_instance_id=self.instance_id,
            # The loop stops fetching while Herald's database is down; it must stay in the group meanwhile.
            max_poll_interval_ms=30 * 60 * 1000)
        try:
            await consumer.start()
            consumer.subscribe(self.topics, listener=_Rebalance(self))
        except BaseException:
            await consumer.stop()
            raise
        self.consumer = consumer

    def assigned(self, partitions: Sequence[TopicPartition]) -> None:
        for tp in partitions:
            self._generation[tp] = self._generation.get(tp, 0) + 1
            self._held.pop(tp, None)
            self._next.pop(tp, None)

    async def fetch(self, max_messages: int, wait_seconds: float) -> list[Message]:
        assert self.consumer is not None
        batches = await self.consumer.getmany(timeout_ms=int(wait_seconds * 1000), max_records=max_messages)
        messages = []
        for tp, records in batches.items():
            generation = self._generation.get(tp, 0)
            held = self._held.setdefault(tp, {})
            for record in records:
                held[record.offset] = record.timestamp / 1000 if record.timestamp else time.time()
                key = record.key.decode(errors="replace") if record.key else f"{tp.topic}:{tp.partition}"
                messages.append(Message(
                    source_id=f"kafka:{tp.topic}:{tp.partition}:{record.offset}", key=key, body=record.value or b"",
                    produced_at=record.timestamp / 1000 if record.timestamp else None,
                    handle=(tp, record.offset, generation)))
            if records:
                self._next[tp] = records[-1].offset + 1
        return messages

    async def ack(self, messages: Sequence[Message]) -> None:
        assert self.consumer is not None
        touched = set()
        for message in messages:
            tp, offset, generation = message.handle  # type: ignore[misc]
            if generation == self._generation.get(tp) and tp in self._held:
                self._held[tp].pop(offset, None)
                touched.add(tp)
        assignment = self.consumer.assignment()
        offsets = {tp: min(self._held[tp]) if self._held[tp] else self._next[tp]
                   for tp in touched if tp in assignment and tp in self._next}
        if offsets:
            await self.consumer.commit(offsets)

    async def abandon(self, messages: Sequence[Message]) -> None:
        """Fetch them again: the position has moved past records that were never committed."""
        assert self.consumer is not None
        for tp, held in list(self._held.items()):
            if held:
                try:
                    self.consumer.seek(tp, min(held))
                except IllegalStateError:
                    pass  # no longer ours: its new owner starts from the committed offset
            self._held.pop(tp, None)
            self._next.pop(tp, None)

    async def lag(self) -> Lag:
        """The whole group's lag on every partition of the topics, so that each node reports the same."""
        assert self.consumer is not None
        partitions = [TopicPartition(topic, p) for topic in self.topics
                      for p in sorted(self.consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            return Lag(0, 0.0)
        ends = await self.consumer.end_offsets(partitions)
        starts = await self.consumer.beginning_offsets(partitions)
        behind = 0
        now = time.time()
        oldest = now
        for tp in partitions:
            committed = await self.consumer.committed(tp)
            waiting = max(0, ends[tp] - max(committed if committed is not None else 0, starts[tp]))
            behind += waiting
            # The oldest record held says its own age; Kafka has no cheap "timestamp at offset" for records
            # not fetched yet, so for those the age counts from when this node first saw the lag.
            if waiting and self._held.get(tp):
                oldest = min(oldest, min(self._held[tp].values()))
            elif waiting:
                oldest = min(oldest, self._held_since.setdefault(tp, now))
            else:
                self._held_since.pop(tp, None)
        return Lag(behind, now - oldest if behind else 0.0)

    async def close(self) -> None:
        if self.consumer is not None:
            consumer, self.consumer = self.consumer, None
            await consumer.stop()


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, source: KafkaSource) -> None:
        self.source = source

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        pass  # what is held of them is forgotten when they are assigned again (assigned bumps the generation)

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self.source.assigned(assigned)
