"""The per-recipient live limit: past it, a user's new items still arrive, but quiet (no toast, no sound).

A viral moment must not make one user's screen a slot machine: ``HERALD_RECIPIENT_LIVE_PER_MINUTE``
new items per user and minute toast; the rest go out with ``"quiet": true`` (urgent ones always
toast). Group updates do not count: the item they update already made its noise.
"""
from __future__ import annotations

import dataclasses

import msgspec

from herald.inbox import InboxWrite
from herald.metrics import Metrics
from herald.ratelimit import Limit, RateLimiter
from herald.wire import PRIORITY_RANK

QUIET_FIELD = b',"quiet":true}'


class _Shape(msgspec.Struct, rename="camel"):
    group_count: int = 1


_shape = msgspec.json.Decoder(_Shape).decode


async def quiet_excess(limiter: RateLimiter, limit: Limit, metrics: Metrics,
                       deliveries: list[InboxWrite]) -> list[InboxWrite]:
    """The deliveries, those of new items to users over the per-recipient limit re-encoded ``"quiet": true``."""
    if not limit.enabled or not deliveries:
        return deliveries
    shapes: dict[int, bool] = {}  # fresh deliveries of one notification share one payload object
    counted = []
    for index, delivery in enumerate(deliveries):
        new = shapes.get(id(delivery.payload))
        if new is None:
            new = shapes[id(delivery.payload)] = _shape(delivery.payload).group_count == 1
        if new:
            counted.append(index)
    if not counted:
        return deliveries
    waits = await limiter.hit_many(limit, [deliveries[index].user_id for index in counted])
    result = list(deliveries)
    quiet: dict[int, bytes] = {}
    for index, wait in zip(counted, waits):
        delivery = deliveries[index]
        if wait <= 0 or delivery.rank == PRIORITY_RANK["urgent"]:
            continue
        payload = quiet.get(id(delivery.payload))
        if payload is None:
            # The payload is one msgspec-encoded JSON object: the field goes before its closing brace.
            payload = quiet[id(delivery.payload)] = delivery.payload[:-1] + QUIET_FIELD
        result[index] = dataclasses.replace(delivery, payload=payload)
    made_quiet = sum(1 for a, b in zip(deliveries, result) if a is not b)
    if made_quiet:
        metrics.quiet_deliveries.inc(made_quiet)
    return result
