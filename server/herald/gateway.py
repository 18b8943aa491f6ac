"""The one subscribe loop every transport shares, and the per-connection queue behind it.

A connection's *cursor* is the highest per-user sequence number such that
every earlier item has been written to it (or is known not to exist: moved by
a group update, or never committed). Items wait in a bounded priority queue,
so an urgent item may be written before older ones; the cursor it carries then
stays behind them (design section 6). Three things refill the queue from the
inbox, through one mechanism (``replay_after``): a resume, an overflow of the
queue (slow consumer: drop everything queued and re-read from the cursor,
never block the publisher), and a gap (a sequence number that the bus has not
brought within ``gap_fill_seconds``).
"""
from __future__ import annotations

import asyncio
import bisect
import heapq
import itertools
import time
from typing import Callable, Protocol

from herald.fanout import BusEvent, Fanout
from herald.inbox import Inbox
from herald.metrics import Metrics
from herald.wire import PRIORITY_RANK

REPLAY_PAGE = 200
LATENCY_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MAX_FRAMES_PER_WRITE = 256


class Encoder(Protocol):
    """What a transport supplies: bytes (or text) for each kind of event."""

    def opening(self, retry_ms: int, cursor: int, unread: int) -> bytes: ...
    def notification(self, cursor: int, payload: bytes) -> bytes: ...
    def read(self, payload: bytes) -> bytes: ...
    def reset(self, cursor: int) -> bytes: ...
    def heartbeat(self) -> bytes: ...


class Sink(Protocol):
    """Where a transport's bytes go.

    ``write`` is the fast path: called synchronously from the bus, it either
    takes the bytes now (True) or refuses (False: not writable, e.g. a full
    socket buffer) and the event waits in the queue. ``flush`` is the loop's
    path and may wait for the client. ``closed`` turns true when the client leaves.
    """

    closed: bool
    on_close: Callable[[], None]

    def write(self, data: bytes) -> bool: ...
    async def flush(self, frames: list[bytes]) -> None: ...


class Stats:
    """Plain counters on the hot path; the metrics collector reads them (no locks per frame)."""

    __slots__ = ("delivered", "overflows", "latency_counts", "latency_sum")

    def __init__(self) -> None:
        self.delivered = 0
        self.overflows = 0
        self.latency_counts = [0] * (len(LATENCY_BOUNDS) + 1)  # the last slot is +Inf
        self.latency_sum = 0.0

    def observe(self, sent_at: float) -> None:
        """Publish-to-write latency of one live frame: a bisect and two adds, no lock."""
        latency = time.time() - sent_at
        self.latency_counts[bisect.bisect_left(LATENCY_BOUNDS, latency)] += 1
        self.latency_sum += latency


class Connection:
    """Per-connection state; ``offer`` is called by the bus and never blocks.

    Fast path: when nothing is queued or out of order and the item is the next
    in sequence, ``offer`` encodes it and writes it to the sink at once, so a
    fan-out costs one format and one socket write per connection, with no task
    switch. Everything else (priority order, replay, gaps, slow clients) takes
    the queue and the connection's own loop.
    """

    def __init__(self, user_id: str, limit: int, stats: Stats | None = None) -> None:
        self.user_id = user_id
        self.cursor = 0
        self.limit = limit
        self.overflows = 0
        self.replay_after: int | None = None
        self.replay_until: int | None = None
        self.gap_since: float | None = None
        self._known: set[int] = set()  # seqs > cursor that are queued, written or absent
        self._done: set[int] = set()  # seqs > cursor that are written or absent
        self._max_known = 0
        self._heap: list[tuple[int, int, BusEvent]] = []
        self._order = itertools.count()
        self._waiter: asyncio.Future[None] | None = None
        self.sink: Sink | None = None  # set once the opening frames are out: direct writes allowed
        self.encoder: Encoder | None = None
        self.stats = stats if stats is not None else Stats()  # shared per transport by the gateway
        self.last_write = time.monotonic()

    @property
    def queued(self) -> int:
        return len(self._heap)

    def start(self, cursor: int) -> None:
        """Set the resume point; anything the bus brought at or before it is dropped."""
        self.cursor = cursor
        self._heap = [entry for entry in self._heap if entry[2].kind != "notification" or entry[2].seq > cursor]
        heapq.heapify(self._heap)
        self._known = {seq for seq in self._known if seq > cursor}
        self._done = {seq for seq in self._done if seq > cursor}
        self._note_gap()

    def offer(self, event: BusEvent) -> None:
        sink = self.sink
        if event.kind == "notification":
            seq = event.seq
            if seq <= self.cursor or seq in self._known:
                return
            if (sink is not None and seq == self.cursor + 1 and not self._heap and not self._known
                    and self.replay_after is None
                    and sink.write(self.encoder.notification(seq, event.payload))):  # type: ignore[union-attr]
                self.cursor = self._max_known = seq
                self.stats.delivered += 1
                if event.sent_at:
                    self.stats.observe(event.sent_at)
                self.last_write = time.monotonic()
                return
            if len(self._heap) >= self.limit:
                self._overflow()
                return
            self._queue(seq, event)
            self._note_gap()
        else:
            if sink is not None and not self._heap and sink.write(self.encoder.read(event.payload)):  # type: ignore[union-attr]
                self.last_write = time.monotonic()
                return
            heapq.heappush(self._heap, (-1, next(self._order), event))
        self.wake()

    def add_replayed(self, rows: list[tuple[int, int, bytes]], after: int, until: int) -> None:
        """Queue rows read from the inbox; every seq in (after, until] not among them does not exist."""
        for seq, rank, payload in rows:
            if seq > self.cursor and seq not in self._known:
                self._queue(seq, BusEvent("notification", self.user_id, seq, rank, payload))
        for seq in range(max(after, self.cursor) + 1, until + 1):
            if seq not in self._known:
                self._known.add(seq)
                self._done.add(seq)
        self._advance()
        self._note_gap()

    def drain(self, encoder: Encoder) -> list[bytes]:
        """Pop what is queued, most urgent first, and encode it with the cursor each frame may carry."""
        frames: list[bytes] = []
        heap = self._heap
        # While the inbox is being re-read, ordinary items past what it has covered wait, so that
        # they are not written ahead of older ones the re-read has yet to bring. Urgent and high
        # items may still jump ahead: the cursor they carry stays behind.
        frontier = self.replay_after
        while heap and len(frames) < MAX_FRAMES_PER_WRITE:
            rank, key, event = heap[0]
            if frontier is not None and rank >= PRIORITY_RANK["medium"] and key > frontier:
                break
            heapq.heappop(heap)
            if event.kind != "notification":
                frames.append(encoder.read(event.payload))
                continue
            self._done.add(event.seq)
            self._advance()
            frames.append(encoder.notification(self.cursor, event.payload))
            if event.sent_at:  # live events only: a replay's delay is the client's absence
                self.stats.observe(event.sent_at)
        return frames

    def gap_due(self, after_seconds: float) -> float | None:
        """When a gap should be filled from the inbox (None: no gap)."""
        if self.gap_since is None:
            return None
        return self.gap_since + after_seconds

    def resync(self) -> None:
        if self.replay_after is None:
            self.replay_after, self.replay_until = self.cursor, None
        self.wake()

    def fill_gap(self) -> None:
        self.gap_since = None
        if self.replay_after is None:
            self.replay_after, self.replay_until = self.cursor, self._max_known

    async def wait(self, timeout: float) -> None:
        if self._heap:
            return
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout, _settle, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _queue(self, seq: int, event: BusEvent) -> None:
        self._known.add(seq)
        if seq > self._max_known:
            self._max_known = seq
        heapq.heappush(self._heap, (event.rank, seq, event))

    def _overflow(self) -> None:
        self.overflows += 1
        self.stats.overflows += 1
        self._heap = [entry for entry in self._heap if entry[2].kind != "notification"]
        self._known = set(self._done)
        self._max_known = max(self._done, default=self.cursor)
        self.replay_after, self.replay_until = self.cursor, None
        self.wake()

    def _advance(self) -> None:
        done = self._done
        cursor = self.cursor
        while cursor + 1 in done:
            cursor += 1
            done.discard(cursor)
            self._known.discard(cursor)
        self.cursor = cursor
        if self.gap_since is not None and not self._has_gap():
            self.gap_since = None

    def _has_gap(self) -> bool:
        return self._max_known - self.cursor > len(self._known)

    def _note_gap(self) -> None:
        if self.gap_since is None and self._has_gap():
            self.gap_since = time.monotonic()

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Gateway:
    def __init__(self, inbox: Inbox, fanout: Fanout, metrics: Metrics, *, heartbeat_seconds: float,
                 retry_milliseconds: int, queue_limit: int, gap_fill_seconds: float) -> None:
        self.inbox = inbox
        self.fanout = fanout
        self.metrics = metrics
        self.heartbeat_seconds = heartbeat_seconds
        self.retry_milliseconds = retry_milliseconds
        self.queue_limit = queue_limit
        self.gap_fill_seconds = gap_fill_seconds
        self._stats: dict[str, Stats] = {}
        metrics.watch_gateway(self._stats)

    def stats(self, transport: str) -> Stats:
        return self._stats.setdefault(transport, Stats())

    async def serve(self, user_id: str, resume: int | None, encoder: Encoder, sink: Sink, transport: str,
                    direct: bool = True) -> None:
        """The one subscribe loop: write one connection's events to ``sink`` until the client leaves."""
        conn = Connection(user_id, self.queue_limit, self.stats(transport))
        sink.on_close = conn.wake
        # Attach before reading the inbox, so nothing committed in between is missed.
        self.fanout.attach(user_id, conn)
        gauge = self.metrics.connections.labels(transport)
        gauge.inc()
        try:
            start = await self.inbox.stream_start(user_id)
            reset = resume is not None and (resume > start.last_seq or resume < start.pruned_seq)
            cursor = start.last_seq if resume is None or reset else resume
            conn.start(cursor)
            if cursor < start.last_seq:
                conn.replay_after, conn.replay_until = cursor, start.last_seq
            opening = [encoder.opening(self.retry_milliseconds, cursor, start.unread)]
            if reset:
                self.metrics.resets.inc()
                opening.append(encoder.reset(cursor))
            await sink.flush(opening)
            conn.last_write = time.monotonic()
            if direct:
                conn.encoder, conn.sink = encoder, sink
            while not sink.closed:
                frames = conn.drain(encoder)
                if frames:
                    # drain() and the write inside flush() happen with no await between them,
                    # so a direct write from the bus cannot land ahead of these frames.
                    conn.stats.delivered += len(frames)
                    await sink.flush(frames)
                    conn.last_write = time.monotonic()
                    continue
                if conn.replay_after is not None:
                    # Only when nothing queued may be written: the queue never grows by more than a page.
                    await self._replay_page(conn)
                    continue
                now = time.monotonic()
                gap_at = conn.gap_due(self.gap_fill_seconds)
                if gap_at is not None and gap_at <= now:
                    conn.fill_gap()
                    continue
                wake_at = conn.last_write + self.heartbeat_seconds
                if wake_at <= now:
                    await sink.flush([encoder.heartbeat()])
                    conn.last_write = now
                    continue
                await conn.wait(min(wake_at, gap_at or wake_at) - now)
        finally:
            conn.sink = None
            self.fanout.detach(user_id, conn)
            gauge.dec()

    async def _replay_page(self, conn: Connection) -> None:
        after, until = conn.replay_after, conn.replay_until
        assert after is not None
        start = max(after, conn.cursor)
        overflows = conn.overflows
        rows = await self.inbox.items_after(conn.user_id, start, REPLAY_PAGE, until)
        if conn.overflows != overflows:
            return  # the queue overflowed meanwhile and asked for a re-read from the cursor: that one wins
        if len(rows) == REPLAY_PAGE:
            covered = rows[-1][0]
            conn.replay_after = covered
        else:
            covered = until if until is not None else (rows[-1][0] if rows else start)
            conn.replay_after = conn.replay_until = None
        conn.add_replayed(rows, start, covered)
