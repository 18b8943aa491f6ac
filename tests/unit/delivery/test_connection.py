"""The per-connection queue and cursor, without a server: the rules of design section 6."""
from __future__ import annotations

from herald.delivery.connection import Connection
from herald.delivery.sse import SSEEncoder
from herald.fanout.base import BusEvent
from herald.wire import PRIORITY_RANK

ENC = SSEEncoder()


def event(seq: int, priority: str = "medium") -> BusEvent:
    return BusEvent("notification", "u", seq, PRIORITY_RANK[priority], b'{"seq":%d}' % seq)


def written(conn: Connection) -> list[tuple[int, int]]:
    """(cursor carried, seq) for each frame drained."""
    out = []
    for frame in conn.drain(ENC):
        lines = frame.decode().split("\n")
        cursor = int(lines[1].removeprefix("id: "))
        seq = int(lines[2].split(":")[-1].rstrip("}"))
        out.append((cursor, seq))
    return out


def test_in_order_items_carry_their_own_sequence_as_cursor() -> None:
    conn = Connection("u", limit=10)
    conn.start(0)
    for seq in (1, 2, 3):
        conn.offer(event(seq))
    assert written(conn) == [(1, 1), (2, 2), (3, 3)]


def test_urgent_is_written_first_but_cursor_waits_for_older_items() -> None:
    conn = Connection("u", limit=10)
    conn.start(0)
    for seq, priority in ((1, "low"), (2, "medium"), (3, "urgent")):
        conn.offer(event(seq, priority))
    assert written(conn) == [(0, 3), (0, 2), (3, 1)]


def test_out_of_order_arrival_holds_the_cursor_until_the_gap_closes() -> None:
    conn = Connection("u", limit=10)
    conn.start(4)
    conn.offer(event(6))
    assert written(conn) == [(4, 6)]
    assert conn.gap_since is not None, "a missing seq 5 is a gap to fill from the inbox if it never comes"
    conn.offer(event(5))
    assert written(conn) == [(6, 5)]
    assert conn.gap_since is None


def test_duplicates_and_items_before_the_resume_point_are_dropped() -> None:
    conn = Connection("u", limit=10)
    conn.offer(event(2))  # arrived between attach and start
    conn.start(3)
    conn.offer(event(3))
    conn.offer(event(4))
    conn.offer(event(4))
    assert written(conn) == [(4, 4)]
    conn.offer(event(4))
    assert written(conn) == []


def test_replayed_rows_fill_gaps_and_unlisted_sequences_count_as_absent() -> None:
    conn = Connection("u", limit=10)
    conn.start(0)
    conn.offer(event(5))
    # The inbox has seq 2 and 4; 1 and 3 were moved by group updates, so they do not exist.
    conn.add_replayed([(2, 2, "notification", b'{"seq":2}'), (4, 2, "notification", b'{"seq":4}')], after=0, until=5)
    assert written(conn) == [(3, 2), (4, 4), (5, 5)], "absent seq 3 lets the cursor pass it"
    assert conn.gap_since is None


def test_overflow_drops_the_queue_and_asks_for_a_resume_from_the_cursor() -> None:
    conn = Connection("u", limit=3)
    conn.start(10)
    for seq in (11, 12, 13):
        conn.offer(event(seq))
    assert conn.replay_after is None
    conn.offer(event(14))
    assert conn.overflows == 1
    assert conn.queued == 0
    assert conn.replay_after == 10, "the slow connection re-reads from what it has written, not from the bus"
    conn.offer(event(15))  # new events still queue: the replay dedupes against them
    assert written(conn) == [], "items past what the re-read covered wait for it"
    conn.add_replayed([(s, 2, "notification", b'{"seq":%d}' % s) for s in (11, 12, 13, 14, 15)], after=10, until=15)
    conn.replay_after = None  # the re-read reached the head of the inbox
    assert [seq for _, seq in written(conn)] == [11, 12, 13, 14, 15]
    assert conn.cursor == 15


def test_read_events_go_first_and_carry_no_cursor() -> None:
    conn = Connection("u", limit=10)
    conn.start(0)
    conn.offer(event(1))
    conn.offer(BusEvent("read", "u", 0, -1, b'{"all":true,"unreadCount":0}'))
    frames = conn.drain(ENC)
    assert frames[0] == b'event: read\ndata: {"all":true,"unreadCount":0}\n\n'
    assert frames[1].startswith(b"event: notification\nid: 1\n")


def test_urgent_items_may_pass_a_pending_reread_but_ordinary_ones_wait() -> None:
    conn = Connection("u", limit=10)
    conn.start(0)
    conn.replay_after = 0  # resuming: the inbox is being re-read from 0
    conn.offer(event(7, "medium"))
    conn.offer(event(8, "urgent"))
    assert written(conn) == [(0, 8)]
    conn.add_replayed([(s, 2, "notification", b'{"seq":%d}' % s) for s in range(1, 7)], after=0, until=6)
    conn.replay_after = None
    assert written(conn) == [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (8, 7)]


class Open:
    """A sink that takes every direct write."""

    closed = False

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def on_close(self) -> None: ...

    def write(self, data: bytes) -> bool:
        self.writes.append(data)
        return True

    async def flush(self, frames: list[bytes]) -> None: ...

    def close(self, reason: str = "going_away") -> None: ...


def test_past_its_writes_per_second_a_connection_queues_and_the_rest_goes_out_in_one_write() -> None:
    conn = Connection("u", limit=100, writes_per_second=3)
    conn.start(0)
    sink = Open()
    conn.encoder, conn.sink = ENC, sink  # type: ignore[assignment]
    for seq in range(1, 11):
        conn.offer(event(seq))
    assert len(sink.writes) == 3, "three direct writes this second"
    assert conn.write_delay(__import__("time").monotonic()) > 0, "the loop waits for the next second"
    assert [seq for _, seq in written(conn)] == list(range(4, 11)), "the other seven together, in order"
