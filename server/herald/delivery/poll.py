"""Long polling: for networks whose proxies break streaming.

``GET /api/notifications/poll?cursor=C&timeout=25`` answers at once when the
inbox has items after ``C``, otherwise holds the request until one arrives,
read state changes, or the timeout passes. The inbox is the source of truth:
the bus only wakes the request, and the answer is read from the database, so
a poll can never miss what a wake-up did not carry.
"""
from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from herald.delivery.starts import CatchUp
from herald.fanout.base import BusEvent, Fanout
from herald.inbox import Inbox
from herald.tasks import wait_event
from herald.wire import Notification, change_json

POLL_LIMIT = 100


class PollAnswer(msgspec.Struct, rename="camel"):
    """The shape of a poll's answer, for the OpenAPI document (``_answer`` writes the bytes directly)."""

    items: list[Notification]
    cursor: str
    unread_count: int
    reset: bool
    read: dict[str, Any] | None
    """The last read-state change among ``changes`` (null: none), as the ``read`` stream event's data."""
    changes: list[dict[str, Any]]
    """Inbox changes after the cursor, oldest first: each ``{"type": "read", "cursor": ..., ...}``."""


class Waker:
    """A bus listener that only notes that something happened for its user (the answer is read from the inbox)."""

    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def offer(self, event: BusEvent) -> None:
        self.event.set()

    def resync(self) -> None:
        self.event.set()


async def poll(inbox: Inbox, fanout: Fanout, user_id: str, cursor: int | None, timeout: float,
               catch_up: CatchUp | None = None) -> bytes:
    """The JSON answer: ``items`` (urgent first), ``changes`` (in order), ``cursor``, ``unreadCount``, ``reset``, ``read``."""
    waker = Waker()
    fanout.attach(user_id, waker)
    try:
        start = await inbox.stream_start(user_id)
        for topic in start.topics:  # a broadcast to one of them wakes this poll too
            fanout.follow(topic, waker)
        if cursor is None or cursor > start.last_seq or cursor < start.pruned_seq:
            return _answer([], start.last_seq, start.unread, reset=cursor is not None)
        rows = await inbox.items_after(user_id, cursor, POLL_LIMIT)
        if not rows and timeout > 0:
            await wait_event(waker.event, timeout)
            if catch_up is not None:  # it may have been a broadcast: into the inbox first, then read in order
                await catch_up([user_id])
            rows = await inbox.items_after(user_id, cursor, POLL_LIMIT)
        unread = await inbox.unread_count(user_id)
    finally:
        fanout.detach(user_id, waker)
    # Every row after the cursor up to the last one is in this answer, so the cursor may move to it.
    next_cursor = rows[-1][0] if rows else cursor
    changes = [row for row in rows if row[2] != "notification"]
    items = sorted((row for row in rows if row[2] == "notification"), key=lambda row: (row[1], row[0]))
    reads = [payload for _, _, kind, payload in changes if kind == "read"]
    return _answer([payload for *_, payload in items], next_cursor, unread, read=reads[-1] if reads else None,
                   changes=[change_json(kind, seq, payload) for seq, _, kind, payload in changes])


def _answer(payloads: list[bytes], cursor: int, unread: int, reset: bool = False, read: bytes | None = None,
            changes: list[bytes] | None = None) -> bytes:
    return b'{"items":[%b],"cursor":"%d","unreadCount":%d,"reset":%b,"read":%b,"changes":[%b]}' % (
        b",".join(payloads), cursor, unread, b"true" if reset else b"false", read or b"null",
        b",".join(changes or ()))
