"""One subscriber connection's queue and cursor: the rules of design section 6, with no I/O.

``offer`` is called by the bus and never blocks. When nothing is queued or out
of order and the item is the next in sequence, it encodes the item and writes
it to the sink at once, so a fan-out costs one format and one socket write per
connection, with no task switch. Everything else (priority order, replay,
gaps, slow clients) takes the queue, and ``wake`` asks the gateway to run the
connection's loop.
"""
from __future__ import annotations

import asyncio
import bisect
import collections
import heapq
import itertools
import time
from typing import TYPE_CHECKING, Callable

from herald.fanout.base import BusEvent
from herald.inbox import Replayed
from herald.metrics import LATENCY_BOUNDS
from herald.wire import PRIORITY_RANK

if TYPE_CHECKING:
    from herald.delivery.protocols import Encoder, Sink

MAX_FRAMES_PER_WRITE = 256
LIVE_LIMIT = 64  # live-channel events waiting for one slow connection; beyond it the oldest are dropped


class Stats:
    """Plain counters on the hot path; the metrics collector reads them (no locks per frame)."""

    __slots__ = ("delivered", "writes", "overflows", "live_dropped", "latency_counts", "latency_sum")

    def __init__(self) -> None:
        self.delivered = 0
        self.writes = 0  # a write may carry several frames: delivered / writes is the coalescing
        self.overflows = 0
        self.live_dropped = 0
        self.latency_counts = [0] * (len(LATENCY_BOUNDS) + 1)  # the last slot is +Inf
        self.latency_sum = 0.0

    def observe(self, sent_at: float) -> None:
        """Publish-to-write latency of one live frame: a bisect and two adds, no lock."""
        latency = time.time() - sent_at
        self.latency_counts[bisect.bisect_left(LATENCY_BOUNDS, latency)] += 1
        self.latency_sum += latency


_NO_SEQS: frozenset[int] = frozenset()


def frame(encoder: Encoder, cursor: int | None, event: BusEvent) -> bytes:
    """An inbox event's frame: an item, or a change; ``cursor`` None for one outside the inbox order."""
    if event.kind == "notification":
        return encoder.notification(cursor, event.payload)  # type: ignore[arg-type]
    if event.kind == "broadcast":
        return encoder.broadcast(event.payload)
    return encoder.change(event.kind, cursor, event.payload)


class Connection:
    """Per-connection state. Sets and the heap are shared empty objects until first needed:
    most connections only ever take the fast path, and thousands of idle ones add up."""

    __slots__ = ("user_id", "cursor", "limit", "overflows", "replay_after", "replay_until", "gap_since",
                 "_known", "_done", "_max_known", "_heap", "_order", "sink", "encoder", "stats", "last_write",
                 "on_wake", "on_gap", "gap_timer", "pumping", "heartbeat_due", "channels", "_live",
                 "writes_per_second", "_writes", "_window_end", "resyncs", "missed_broadcasts", "personal")

    def __init__(self, user_id: str, limit: int, stats: Stats | None = None, writes_per_second: int = 1 << 30) -> None:
        self.user_id = user_id
        self.cursor = 0
        self.limit = limit
        self.overflows = 0
        self.replay_after: int | None = None
        self.replay_until: int | None = None
        self.gap_since: float | None = None
        self._known: set[int] | frozenset[int] = _NO_SEQS  # seqs > cursor that are queued, written or absent
        self._done: set[int] | frozenset[int] = _NO_SEQS  # seqs > cursor that are written or absent
        self._max_known = 0
        self._heap: list[tuple[int, int, BusEvent]] = []
        self._order: itertools.count[int] | None = None
        self.sink: Sink | None = None  # set once the opening frames are out: direct writes allowed
        self.encoder: Encoder | None = None
        self.stats = stats if stats is not None else Stats()  # shared per transport by the gateway
        self.last_write = time.monotonic()
        self.on_wake: Callable[[Connection], None] | None = None  # the gateway's: run this connection's loop
        self.on_gap: Callable[[Connection], None] | None = None  # the gateway's: arm the gap timer
        self.gap_timer: asyncio.TimerHandle | None = None
        self.pumping = False
        self.heartbeat_due = False
        self.channels: tuple[str, ...] = ()  # live channels joined
        # At most this many writes per second; beyond it events wait and go out together.
        self.writes_per_second = writes_per_second
        self._writes = 0
        self._window_end = 0.0
        self.resyncs = 0  # bumped by each resync, so that a replay page read meanwhile knows to read on
        self._live: collections.deque[BusEvent] | None = None  # live events waiting: best-effort, bounded
        # A broadcast was dropped (queue full): the next replay copies the broadcasts into the inbox first,
        # so that it reads them back in the inbox order (broadcasts.py).
        self.missed_broadcasts = False
        self.personal = False  # the user has preferences of their own: the gateway marks broadcasts for them

    @property
    def queued(self) -> int:
        return len(self._heap)

    def has_work(self) -> bool:
        return bool(self._heap) or bool(self._live) or self.replay_after is not None or self.heartbeat_due

    def start(self, cursor: int) -> None:
        """Set the resume point; anything the bus brought at or before it is dropped."""
        self.cursor = cursor
        if self._heap:
            self._heap = [entry for entry in self._heap if not entry[2].seq or entry[2].seq > cursor]
            heapq.heapify(self._heap)
        if self._known:
            self._known = {seq for seq in self._known if seq > cursor}
            self._done = {seq for seq in self._done if seq > cursor}
        self._note_gap()

    def offer(self, event: BusEvent) -> None:
        sink = self.sink
        if event.kind == "preferences":  # the user saved preferences: from now on broadcasts are marked for them
            self.personal = True
            return
        if event.kind == "channel":
            # It wakes the loop itself, and only when the event must wait: a live event written
            # at once must not start a pump per connection (that was a task per socket per event).
            self._offer_live(sink, event)
            return
        if event.seq:  # in the inbox order: an item, or a change (read state) that replays like one
            seq = event.seq
            if seq <= self.cursor or seq in self._known:
                return
            if (sink is not None and seq == self.cursor + 1 and not self._heap and not self._known
                    and self.replay_after is None
                    and self._write_now(sink, frame(self.encoder, seq, event))):  # type: ignore[arg-type]
                self.cursor = self._max_known = seq
                stats = self.stats
                stats.delivered += 1
                if event.sent_at:
                    stats.observe(event.sent_at)
                return
            if len(self._heap) >= self.limit:
                self._overflow()
                return
            self._queue(seq, event)
            self._note_gap()
        else:  # outside the inbox order: written now or before anything queued, never replayed
            if sink is not None and not self._heap and self._write_now(sink, frame(self.encoder, None, event)):  # type: ignore[arg-type]
                if event.kind == "broadcast":
                    self.stats.delivered += 1
                    if event.sent_at:
                        self.stats.observe(event.sent_at)
                return
            if event.kind == "broadcast" and len(self._heap) >= self.limit:
                self.missed_broadcasts = True
                self._overflow()
                return
            heapq.heappush(self._heap, (-1, self._next_order(), event))
        self.wake()

    def _offer_live(self, sink: Sink | None, event: BusEvent) -> None:
        # Best-effort and unordered against the inbox: written at once when it can be,
        # else coalesced with whatever else waits into the next write; never replayed.
        live = self._live
        if sink is not None and not self._heap and not live and self._write_now(sink, self.encoder.channel(event.payload)):  # type: ignore[union-attr]
            self.stats.delivered += 1
            return
        if live is None:
            live = self._live = collections.deque(maxlen=LIVE_LIMIT)
        if len(live) == LIVE_LIMIT:
            self.stats.live_dropped += 1
        live.append(event)
        self.wake()

    def add_replayed(self, rows: list[Replayed], after: int, until: int) -> None:
        """Queue items and changes read from the inbox; every seq in (after, until] not among them does not exist."""
        for seq, rank, kind, payload in rows:
            if seq > self.cursor and seq not in self._known:
                self._queue(seq, BusEvent(kind, self.user_id, seq, rank, payload))
        for seq in range(max(after, self.cursor) + 1, until + 1):
            if seq not in self._known:
                known, done = self._sets()
                known.add(seq)
                done.add(seq)
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
            if not event.seq:
                frames.append(frame(encoder, None, event))
                if event.sent_at:  # a broadcast
                    self.stats.observe(event.sent_at)
                continue
            self._done.add(event.seq)  # type: ignore[union-attr]
            self._advance()
            frames.append(frame(encoder, self.cursor, event))
            if event.sent_at:  # live events only: a replay's delay is the client's absence
                self.stats.observe(event.sent_at)
        live = self._live
        while live and len(frames) < MAX_FRAMES_PER_WRITE:
            frames.append(encoder.channel(live.popleft().payload))
        return frames

    def write_delay(self, now: float) -> float:
        """Seconds until this connection may be written again (``writes_per_second``); 0: now."""
        if now >= self._window_end or self._writes < self.writes_per_second:
            return 0.0
        return self._window_end - now

    def count_write(self, now: float) -> None:
        if now >= self._window_end:
            self._window_end, self._writes = now + 1.0, 0
        self._writes += 1
        self.stats.writes += 1
        self.last_write = now

    def waiting(self) -> bool:
        """Frames wait in the queue (notifications, read changes, live events)."""
        return bool(self._heap) or bool(self._live)

    def backlog(self) -> tuple[int, float]:
        """(events waiting, when the oldest live one among them was published; 0: none is live)."""
        live = self._live or ()
        sent = [event.sent_at for _, _, event in self._heap if event.sent_at]
        sent += [event.sent_at for event in live if event.sent_at]
        return len(self._heap) + len(live), min(sent, default=0.0)

    def _write_now(self, sink: Sink, data: bytes) -> bool:
        """The fast path's write: at once if the rate allows it and the sink takes it."""
        now = time.monotonic()
        if self.write_delay(now) or not sink.write(data):
            return False
        self.count_write(now)
        return True

    def gap_due(self, after_seconds: float) -> float | None:
        """When a gap should be filled from the inbox (None: no gap)."""
        if self.gap_since is None:
            return None
        return self.gap_since + after_seconds

    def resync(self) -> None:
        """The bus may have lost anything: read the inbox from the cursor to its head, even mid-replay."""
        self.resyncs += 1
        self.missed_broadcasts = True  # the bus may have lost broadcasts too: the inbox copies them first
        if self.replay_after is None:
            self.replay_after = self.cursor
        self.replay_until = None
        self.wake()

    def fill_gap(self) -> None:
        self.gap_since = None
        if self.replay_after is None:
            self.replay_after, self.replay_until = self.cursor, self._max_known

    def wake(self) -> None:
        if self.on_wake is not None:
            self.on_wake(self)

    def _sets(self) -> tuple[set[int], set[int]]:
        if type(self._known) is frozenset:
            self._known = set()
        if type(self._done) is frozenset:
            self._done = set()
        return self._known, self._done  # type: ignore[return-value]

    def _next_order(self) -> int:
        if self._order is None:
            self._order = itertools.count()
        return next(self._order)

    def _queue(self, seq: int, event: BusEvent) -> None:
        self._sets()[0].add(seq)
        if seq > self._max_known:
            self._max_known = seq
        heapq.heappush(self._heap, (event.rank, seq, event))

    def _overflow(self) -> None:
        self.overflows += 1
        self.stats.overflows += 1
        # Changes outside the order stay; broadcasts go, and come back through the inbox (missed_broadcasts).
        kept = [entry for entry in self._heap if not entry[2].seq and entry[2].kind != "broadcast"]
        if any(entry[2].kind == "broadcast" for entry in self._heap):
            self.missed_broadcasts = True
        self._heap = kept
        heapq.heapify(self._heap)
        self._known = set(self._done)
        self._max_known = max(self._done, default=self.cursor)
        self.replay_after, self.replay_until = self.cursor, None
        self.wake()

    def _advance(self) -> None:
        done = self._done
        cursor = self.cursor
        while cursor + 1 in done:
            cursor += 1
            done.discard(cursor)  # type: ignore[union-attr]
            self._known.discard(cursor)  # type: ignore[union-attr]
        self.cursor = cursor
        if self.gap_since is not None and not self._has_gap():
            self.gap_since = None

    def _has_gap(self) -> bool:
        return self._max_known - self.cursor > len(self._known)

    def _note_gap(self) -> None:
        if self.gap_since is None and self._has_gap():
            self.gap_since = time.monotonic()
            if self.on_gap is not None:
                self.on_gap(self)
