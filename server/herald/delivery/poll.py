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

from herald.fanout.base import BusEvent, Fanout
from herald.inbox import Inbox
from herald.tasks import wait_event
from herald.wire import Notification

POLL_LIMIT = 100


class PollAnswer(msgspec.Struct, rename="camel"):
    """The shape of a poll's answer, for the OpenAPI document (``_answer`` writes the bytes directly)."""

    items: list[Notification]
    cursor: str
    unread_count: int
    reset: bool
    read: dict[str, Any] | None


class Waker:
    """A bus listener that only notes that something happened for its user."""

    __slots__ = ("event", "read_payload")

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.read_payload: bytes | None = None

    def offer(self, event: BusEvent) -> None:
        if event.kind == "read":
            self.read_payload = event.payload
        self.event.set()

    def resync(self) -> None:
        self.event.set()


async def poll(inbox: Inbox, fanout: Fanout, user_id: str, cursor: int | None, timeout: float) -> bytes:
    """The JSON answer: ``items`` (urgent first), ``cursor``, ``unreadCount``, ``reset``, and ``read`` if read state changed."""
    waker = Waker()
    fanout.attach(user_id, waker)
    try:
        start = await inbox.stream_start(user_id)
        if cursor is None or cursor > start.last_seq or cursor < start.pruned_seq:
            return _answer([], start.last_seq, start.unread, reset=cursor is not None)
        rows = await inbox.items_after(user_id, cursor, POLL_LIMIT)
        if not rows and timeout > 0:
            await wait_event(waker.event, timeout)
            rows = await inbox.items_after(user_id, cursor, POLL_LIMIT)
        unread = await inbox.unread_count(user_id)
    finally:
        fanout.detach(user_id, waker)
    # Every row after the cursor up to the last one is in this answer, so the cursor may move to it.
    next_cursor = rows[-1][0] if rows else cursor
    rows.sort(key=lambda row: (row[1], row[0]))
    return _answer([payload for _, _, payload in rows], next_cursor, unread, read=waker.read_payload)


def _answer(payloads: list[bytes], cursor: int, unread: int, reset: bool = False, read: bytes | None = None) -> bytes:
    return b'{"items":[%b],"cursor":"%d","unreadCount":%d,"reset":%b,"read":%b}' % (
        b",".join(payloads), cursor, unread, b"true" if reset else b"false", read or b"null")
