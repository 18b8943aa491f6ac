"""Hypothesis state machine over ``gateway.Connection``: the cursor rules of design section 6, in any order.

A model inbox commits items (new ones, and group updates that move an item to a new sequence
number), a model bus delivers their events late, out of order, twice or never, and the connection
is driven only through its public methods, the way the gateway's loop (``Gateway._pump``) drives
it: ``offer`` from the bus (with the direct write to a sink that is sometimes writable), ``drain``, a replay page read
from the inbox through ``replay_after``/``replay_until`` and ``add_replayed``, ``fill_gap`` when a
gap is due, ``resync`` after a bus outage, and a queue small enough to overflow. Throughout:

- no sequence number is ever written twice;
- no frame carries a cursor past an item that exists and has not been written;

and after a final resync, every item after the resume point has been written exactly once.

Broadcasts (issue 22, broadcasts.py) come from the bus to every connection without a cursor.
A connection writes each at most once live; one it drops (a full queue, a bus outage) sets
``missed_broadcasts``, and the next replay copies the broadcasts into the inbox first (the model's
``catch_up``), so it comes back as an item at its own sequence number. At the end every
broadcast has reached the client, live or from the inbox.

The last test drives the real gateway (``Gateway.open`` and its loop) over a model inbox for the
one race the state machine cannot take: a resync arriving while a replay page is being read.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from herald.delivery.connection import Connection
from herald.delivery.gateway import Gateway
from herald.delivery.sse import SSEEncoder
from herald.fanout.base import BusEvent
from herald.fanout.memory import InProcessFanout
from herald.inbox import CHANGE_RANK, Replayed, StreamStart
from herald.metrics import Metrics

ENCODER = SSEEncoder()
PAGE = 4  # the gateway reads 200 rows a page; a small page makes the multi-page path common


def payload(seq: int) -> bytes:
    return b'{"seq":%d}' % seq


class Sink:
    """The direct-write sink: takes a frame when writable, like uvicorn's transport under flow control."""

    def __init__(self, record: "ConnectionMachine") -> None:
        self.closed = False
        self.on_close = lambda: None
        self.writable = True
        self.record = record

    def write(self, data: bytes) -> bool:
        if self.writable:
            self.record.written(data)
        return self.writable


class ConnectionMachine(RuleBasedStateMachine):
    @initialize(before=st.integers(0, 8), early=st.lists(st.integers(0, 3), max_size=3), limit=st.integers(1, 6),
                data=st.data())
    def connect(self, before: int, early: list[int], limit: int, data: st.DataObject) -> None:
        self.items: dict[int, int] = {}  # seq -> rank: what the inbox holds now (items and changes)
        self.changes: set[int] = set()  # which of those seqs are inbox changes (read state)
        self.head = 0
        self.pending: list[BusEvent] = []  # committed, not yet delivered by the bus
        self.counts: Counter[int] = Counter()
        self.reads = 0
        self.broadcasts = 0  # broadcasts sent; broadcast n's payload is {"b":n}
        self.copied: dict[int, int] = {}  # broadcast -> the inbox seq its copy took (catch_up)
        self.live: Counter[int] = Counter()  # broadcasts written live
        for _ in range(before):  # committed before the connection attached: the bus will not bring them
            self.commit(2)
        self.pending.clear()
        self.conn = Connection("u", limit)
        for rank in early:  # committed after attach, before the stream read the inbox: offered early
            self.commit(rank)
            self.conn.offer(self.pending.pop())
        self.resume = data.draw(st.integers(0, self.head), label="resume")
        self.conn.start(self.resume)
        if self.resume < self.head:
            self.conn.replay_after, self.conn.replay_until = self.resume, self.head
        self.sink = Sink(self)
        self.conn.encoder, self.conn.sink = ENCODER, self.sink

    # The inbox and the bus.

    def commit(self, rank: int, moved: int | None = None, kind: str = "notification") -> None:
        self.head += 1
        if moved is not None:
            del self.items[moved]  # a group update moves the item to the new sequence number
            self.copied = {b: self.head if seq == moved else seq for b, seq in self.copied.items()}
        self.items[self.head] = rank
        if kind != "notification":
            self.changes.add(self.head)
        self.pending.append(BusEvent(kind, "u", self.head, rank, payload(self.head)))

    @rule(rank=st.integers(0, 3))
    def publish(self, rank: int) -> None:
        self.commit(rank)

    @precondition(lambda self: set(self.items) - self.changes)
    @rule(data=st.data(), rank=st.integers(0, 3))
    def group_update(self, data: st.DataObject, rank: int) -> None:
        self.commit(rank, moved=data.draw(st.sampled_from(sorted(set(self.items) - self.changes)), label="moved"))

    @rule()
    def inbox_changes(self) -> None:
        """Read state changed: a change takes the next sequence number and replays like an item."""
        self.commit(CHANGE_RANK, kind="read")

    @precondition(lambda self: self.pending)
    @rule(data=st.data(), keep=st.booleans())
    def bus_delivers(self, data: st.DataObject, keep: bool) -> None:
        """One pending event, in any order; ``keep``: the bus will bring it again (a duplicate)."""
        index = data.draw(st.integers(0, len(self.pending) - 1), label="event")
        self.conn.offer(self.pending[index] if keep else self.pending.pop(index))

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def bus_drops(self, data: st.DataObject) -> None:
        self.pending.pop(data.draw(st.integers(0, len(self.pending) - 1), label="dropped"))

    @rule()
    def read_state_changes(self) -> None:
        self.reads += 1
        self.conn.offer(BusEvent("read", "u", 0, -1, b'{"all":true,"unreadCount":0}'))

    @rule(rank=st.integers(0, 3), lost=st.booleans())
    def broadcast(self, rank: int, lost: bool) -> None:
        """A broadcast to everyone: straight from the bus, unless the bus loses it (then a resync follows)."""
        self.broadcasts += 1
        if lost:
            self.conn.resync()
        else:
            self.conn.offer(BusEvent("broadcast", "", 0, rank, b'{"b":%d}' % self.broadcasts))

    @rule()
    def user_reads_inbox(self) -> None:
        """Any read of the inbox (a list page, another tab opening) copies what it has not taken yet."""
        self.catch_up()

    def catch_up(self) -> None:
        for broadcast in range(1, self.broadcasts + 1):
            if broadcast not in self.copied:
                self.commit(2)
                self.copied[broadcast] = self.head

    @rule()
    def bus_reconnects(self) -> None:
        self.conn.resync()

    @rule(writable=st.booleans())
    def socket_buffer(self, writable: bool) -> None:
        self.sink.writable = writable

    # The connection's own loop, one step at a time, as Gateway._pump takes them.

    @rule()
    def loop_step(self) -> None:
        frames = self.conn.drain(ENCODER)
        if frames:
            for frame in frames:
                self.written(frame)
        elif self.conn.replay_after is not None:
            self.replay_page()
        elif self.conn.gap_since is not None:
            self.conn.fill_gap()  # the gap has waited long enough: read the inbox

    def replay_page(self) -> None:
        conn = self.conn
        after, until = conn.replay_after, conn.replay_until
        assert after is not None
        if conn.missed_broadcasts:  # Gateway._replay_page: copy the broadcasts first, then read in order
            conn.missed_broadcasts = False
            self.catch_up()
        start = max(after, conn.cursor)
        rows = [(seq, self.items[seq], "read" if seq in self.changes else "notification", payload(seq))
                for seq in sorted(self.items)
                if seq > start and (until is None or seq <= until)][:PAGE]
        if len(rows) == PAGE:
            covered = rows[-1][0]
            conn.replay_after = covered
        else:
            covered = until if until is not None else (rows[-1][0] if rows else start)
            conn.replay_after = conn.replay_until = None
        conn.add_replayed(rows, start, covered)

    # What the client sees.

    def written(self, frame: bytes) -> None:
        lines = frame.decode().split("\n")
        if lines[1].startswith('data: {"b":'):
            broadcast = int(lines[1].removeprefix('data: {"b":').removesuffix("}"))
            self.live[broadcast] += 1
            assert self.live[broadcast] == 1, f"broadcast {broadcast} written live twice"
            return
        if lines[0] == "event: read" and not lines[1].startswith("id: "):
            self.reads -= 1
            assert self.reads >= 0, "a read event written more often than it happened"
            return
        cursor = int(lines[1].removeprefix("id: "))
        seq = int(lines[2].removeprefix('data: {"seq":').removesuffix("}"))
        self.counts[seq] += 1
        assert self.counts[seq] == 1, f"seq {seq} written twice"
        assert seq > self.resume, f"seq {seq} is at or before the resume point {self.resume}"
        missing = [s for s in range(self.resume + 1, cursor + 1) if s in self.items and not self.counts[s]]
        assert not missing, f"cursor {cursor} passes {missing}, which exist and were never written"

    @invariant()
    def cursor_never_passes_an_unwritten_item(self) -> None:
        if hasattr(self, "conn"):
            cursor = self.conn.cursor
            missing = [s for s in range(self.resume + 1, cursor + 1) if s in self.items and not self.counts[s]]
            assert not missing, f"cursor {cursor} passes {missing}"
            assert self.conn.queued <= self.conn.limit + self.reads + PAGE, "the queue stays bounded"

    def settle(self) -> None:
        for _ in range(10_000):
            if not self.conn.queued and self.conn.replay_after is None and self.conn.gap_since is None:
                return
            self.loop_step()
        raise AssertionError("the connection never settles")

    def teardown(self) -> None:
        if not hasattr(self, "conn"):
            return
        self.sink.writable = True
        self.conn.resync()  # e.g. the bus came back: whatever it lost is read from the inbox
        self.settle()
        expected = {seq for seq in self.items if seq > self.resume}
        assert {seq for seq, n in self.counts.items() if n} >= expected, "every item after the resume point arrives"
        assert all(n == 1 for n in self.counts.values())
        # Every broadcast reached the client: live, or copied into the inbox and written from there.
        for broadcast in range(1, self.broadcasts + 1):
            copy = self.copied.get(broadcast)
            assert self.live[broadcast] or (copy is not None and copy > self.resume and self.counts[copy]), (
                f"broadcast {broadcast} never reached the client")
        assert self.conn.cursor == self.head, "caught up: the cursor is the inbox head"


TestConnectionCursor = ConnectionMachine.TestCase
TestConnectionCursor.settings = TestConnectionCursor.settings.__class__(
    TestConnectionCursor.settings, max_examples=300, stateful_step_count=40)


class GatedInbox:
    """Just enough of ``Inbox`` for the gateway; each read of items waits until the test opens the gate."""

    def __init__(self, seqs: list[int]) -> None:
        self.seqs = list(seqs)
        self.gate = asyncio.Event()
        self.reading = asyncio.Event()

    async def stream_starts(self, user_ids: list[str]) -> dict[str, StreamStart]:
        return {user_id: StreamStart(max(self.seqs, default=0), 0, 0) for user_id in user_ids}

    async def items_after(self, user_id: str, after: int, limit: int, until: int | None = None) -> list[Replayed]:
        wanted = [(s, 2, "notification", payload(s)) for s in self.seqs if s > after and (until is None or s <= until)][:limit]
        self.reading.set()
        await self.gate.wait()
        return wanted


class ListSink:
    def __init__(self) -> None:
        self.closed = False
        self.on_close = lambda: None
        self.frames: list[bytes] = []
        self.arrived = asyncio.Event()

    def write(self, data: bytes) -> bool:
        self.frames.append(data)
        self.arrived.set()
        return True

    async def flush(self, frames: list[bytes]) -> None:
        self.frames.extend(frames)
        self.arrived.set()

    def close(self, reason: str = "going_away") -> None:
        self.closed = True
        self.on_close()

    def seqs(self) -> list[int]:
        return [int(f.split(b'"seq":')[1].split(b"}")[0]) for f in self.frames if b'"seq":' in f]


async def test_a_resync_while_a_replay_page_is_read_still_reads_to_the_inbox_head() -> None:
    inbox = GatedInbox([1, 2])
    fanout = InProcessFanout()
    gateway = Gateway(inbox, fanout, Metrics(), heartbeat_seconds=30, retry_milliseconds=1000,  # type: ignore[arg-type]
                      queue_limit=100, gap_fill_seconds=0.05)
    sink = ListSink()
    await gateway.open("u", 0, ENCODER, sink, "sse")  # type: ignore[arg-type]
    try:
        await asyncio.wait_for(inbox.reading.wait(), 5)  # resuming from 0: the replay of 1..2 is being read
        inbox.seqs.append(3)  # committed meanwhile; its bus event is lost in an outage
        fanout.resync_local()  # the bus is back: every connection must re-read from its cursor
        inbox.gate.set()
        deadline = asyncio.get_running_loop().time() + 2
        while sink.seqs() != [1, 2, 3] and asyncio.get_running_loop().time() < deadline:
            sink.arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(sink.arrived.wait(), 0.2)
        assert sink.seqs() == [1, 2, 3], "seq 3 is in the inbox: the resync must bring it"
    finally:
        inbox.gate.set()
        await gateway.stop()
