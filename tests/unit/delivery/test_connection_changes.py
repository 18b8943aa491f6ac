"""Inbox changes on one connection, without a server: they move the cursor like items and never overtake one."""
from __future__ import annotations

from herald.delivery.connection import Connection
from herald.delivery.sse import SSEEncoder
from herald.delivery.websocket import WSEncoder
from herald.fanout.base import BusEvent
from herald.inbox import CHANGE_RANK
from herald.wire import PRIORITY_RANK

ENC = SSEEncoder()


class Socket:
    """A sink that takes every write."""

    closed = False

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def write(self, data: bytes) -> bool:
        self.frames.append(data)
        return True


def item(seq: int, priority: str = "medium") -> BusEvent:
    return BusEvent("notification", "u", seq, PRIORITY_RANK[priority], b'{"id":"i%d"}' % seq)


def read(seq: int, ids: list[str]) -> BusEvent:
    body = b'{"ids":[%b],"unreadCount":0}' % b",".join(b'"%b"' % i.encode() for i in ids)
    return BusEvent("read", "u", seq, CHANGE_RANK, body)


def test_a_change_in_order_is_written_at_once_and_moves_the_cursor() -> None:
    conn = Connection("u", limit=10)
    conn.start(0)
    conn.encoder, sink = ENC, Socket()
    conn.sink = sink  # type: ignore[assignment]
    conn.offer(item(1))
    conn.offer(read(2, ["i1"]))
    assert sink.frames == [b'event: notification\nid: 1\ndata: {"id":"i1"}\n\n',
                           b'event: read\nid: 2\ndata: {"ids":["i1"],"unreadCount":0}\n\n']
    assert conn.cursor == 2


def test_a_change_waits_behind_the_older_low_item_it_names() -> None:
    conn = Connection("u", limit=10)
    conn.start(0)
    conn.offer(read(2, ["i1"]))  # the bus brought the change before the item
    conn.offer(item(1, "low"))
    frames = conn.drain(ENC)
    assert [f.split(b"\n")[0] for f in frames] == [b"event: notification", b"event: read"]
    assert conn.cursor == 2


def test_a_change_replayed_from_the_inbox_is_framed_as_a_change() -> None:
    conn = Connection("u", limit=10)
    conn.start(0)
    conn.add_replayed([(1, PRIORITY_RANK["medium"], "notification", b'{"id":"i1"}'),
                       (3, CHANGE_RANK, "read", b'{"all":true,"unreadCount":0}')], 0, 3)
    assert conn.drain(WSEncoder()) == [b'{"type":"notification","cursor":"2","notification":{"id":"i1"}}',
                                       b'{"type":"read","cursor":"3","all":true,"unreadCount":0}']
    assert conn.cursor == 3, "seq 2 was not among the rows: it does not exist, and the first frame already passes it"


def test_an_event_outside_the_inbox_order_carries_no_cursor() -> None:
    conn = Connection("u", limit=10)
    conn.start(5)
    conn.offer(BusEvent("read", "u", 0, -1, b'{"all":true,"unreadCount":0}'))
    assert conn.drain(ENC) == [b'event: read\ndata: {"all":true,"unreadCount":0}\n\n']
    assert conn.cursor == 5
