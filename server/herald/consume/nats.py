"""NATS JetStream: a durable pull consumer with explicit acks, shared by every Herald node.

A message is published to a subject of the stream (``HERALD_CONSUME_NATS_STREAM``,
subjects ``HERALD_CONSUME_NATS_SUBJECTS``) with the publish request JSON as its
data. Its ordering key is its subject: put the user id in a subject token
(``herald.notify.<user>``) and one user's messages keep their order. Its
idempotency key is ``nats:<stream>:<stream sequence>``.

Herald creates the stream (file storage, limits retention) and the durable
consumer if they are missing; an operator who wants other retention or
replicas creates them first and Herald binds to them. Every node pulls from
the same durable consumer, so the nodes share the work as a consumer group.

A message Herald holds but has not acked is redelivered after
``HERALD_CONSUME_NATS_ACK_WAIT_SECONDS``, to whichever node pulls next (a
killed node's messages go to the others). While the loop retries one (the
database down) ``hold`` sends "in progress", which restarts that clock.
"""
from __future__ import annotations

import asyncio
import time
from typing import Sequence

import nats
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from herald.consume.base import Lag, Message, Source


class NatsSource(Source):
    name = "nats"

    def __init__(self, url: str, stream: str, subjects: Sequence[str], durable: str, filter_subject: str,
                 ack_wait_seconds: float) -> None:
        self.url = url
        self.stream = stream
        self.subjects = list(subjects)
        self.durable = durable
        self.filter_subject = filter_subject
        self.ack_wait_seconds = ack_wait_seconds
        self.hold_every_seconds = ack_wait_seconds / 3
        self.client: Client | None = None
        self.js: JetStreamContext | None = None
        self.subscription: JetStreamContext.PullSubscription | None = None

    async def open(self) -> None:
        if self.client is None or self.client.is_closed:
            # Reconnects forever on its own once connected; the first connect is retried by the loop.
            self.client = await nats.connect(self.url, connect_timeout=5, reconnect_time_wait=0.5,
                                             max_reconnect_attempts=-1, allow_reconnect=True,
                                             error_cb=_quiet, disconnected_cb=_nothing, reconnected_cb=_nothing)
            self.js = self.client.jetstream(timeout=5)
            self.subscription = None
        assert self.js is not None
        try:
            await self.js.stream_info(self.stream)
        except NotFoundError:
            await self.js.add_stream(StreamConfig(name=self.stream, subjects=self.subjects, storage=StorageType.FILE))
        config = ConsumerConfig(
            durable_name=self.durable, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait_seconds, max_ack_pending=-1, filter_subject=self.filter_subject or None)
        if not await self._consumer_exists():
            await self.js.add_consumer(self.stream, config)
        if self.subscription is None:
            self.subscription = await self.js.pull_subscribe_bind(self.durable, self.stream)

    async def _consumer_exists(self) -> bool:
        assert self.js is not None
        try:
            await self.js.consumer_info(self.stream, self.durable)
        except NotFoundError:
            return False
        return True

    async def fetch(self, max_messages: int, wait_seconds: float) -> list[Message]:
        assert self.subscription is not None and self.client is not None
        if not self.client.is_connected:
            # fetch() would wait its whole timeout and say "timeout", hiding that the server is gone.
            raise ConnectionError(f"not connected to {self.url}")
        try:
            received = await self.subscription.fetch(max_messages, timeout=wait_seconds)
        except (NatsTimeout, asyncio.TimeoutError):
            return []
        messages = []
        for msg in received:
            meta = msg.metadata
            messages.append(Message(source_id=f"nats:{self.stream}:{meta.sequence.stream}", key=msg.subject,
                                    body=msg.data, produced_at=meta.timestamp.timestamp(), handle=msg))
        return messages

    async def ack(self, messages: Sequence[Message]) -> None:
        # A plain ack, not a double ack: a lost ack only means a redelivery, which the idempotency key absorbs.
        for message in messages:
            await message.handle.ack()  # type: ignore[attr-defined]

    async def hold(self, messages: Sequence[Message]) -> None:
        for message in messages:
            await message.handle.in_progress()  # type: ignore[attr-defined]

    async def abandon(self, messages: Sequence[Message]) -> None:
        for message in messages:
            await message.handle.nak()  # type: ignore[attr-defined]

    async def lag(self) -> Lag:
        assert self.js is not None
        info = await self.js.consumer_info(self.stream, self.durable)
        behind = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
        if not behind:
            return Lag(0, 0.0)
        floor = info.ack_floor.stream_seq if info.ack_floor else 0
        oldest = await self.js.get_msg(self.stream, seq=floor + 1, subject=self.filter_subject or None, next=True)
        stamp = oldest.time.timestamp() if hasattr(oldest.time, "timestamp") else _parse_time(oldest.time)
        return Lag(behind, max(0.0, time.time() - stamp))

    async def close(self) -> None:
        if self.client is not None and not self.client.is_closed:
            await self.client.close()
        self.client = self.js = self.subscription = None


def _parse_time(value: object) -> float:
    from datetime import datetime

    text = str(value).rstrip("Z")
    whole, _, fraction = text.partition(".")
    return datetime.fromisoformat(whole + "+00:00").timestamp() + float("0." + (fraction or "0")[:6])


async def _quiet(_: Exception) -> None:
    """nats-py logs every reconnect failure through this; the loop reports the source down once."""


async def _nothing() -> None:
    pass
