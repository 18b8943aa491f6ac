"""Live channels: events with no inbox (reactions, tickers), best-effort over SSE and WebSocket."""
from __future__ import annotations

from herald.delivery.connection import LIVE_LIMIT, Connection
from herald.delivery.sse import SSEEncoder
from herald.fanout.base import BusEvent


class Stalled:
    """A sink whose socket buffer is full: nothing can be written now."""

    closed = False

    def on_close(self) -> None: ...

    def write(self, data: bytes) -> bool:
        return False

    async def flush(self, frames: list[bytes]) -> None: ...

    def close(self) -> None: ...


def test_a_burst_for_a_slow_connection_keeps_the_newest_and_coalesces_into_one_write() -> None:
    conn = Connection("u", limit=10)
    conn.start(0)
    conn.encoder, conn.sink = SSEEncoder(), Stalled()  # type: ignore[assignment]
    for i in range(LIVE_LIMIT + 36):
        conn.offer(BusEvent("channel", "ticker", 0, 2, b'{"price":%d}' % i))
    assert conn.stats.live_dropped == 36
    frames = conn.drain(SSEEncoder())
    assert len(frames) == LIVE_LIMIT, "all that waits goes out in one write"
    assert frames[0] == b'event: channel\ndata: {"price":36}\n\n' and frames[-1].endswith(b'{"price":99}\n\n'), \
        "the oldest were dropped, the newest kept, in order"


class Writable(Stalled):
    """A sink with room in its socket buffer: what it is given is on the wire."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> bool:
        self.written.append(data)
        return True


def test_a_live_event_written_at_once_does_not_wake_the_connections_loop() -> None:
    conn, sink, woken = Connection("u", limit=10), Writable(), []
    conn.start(0)
    conn.encoder, conn.sink = SSEEncoder(), sink  # type: ignore[assignment]
    conn.on_wake = woken.append
    conn.offer(BusEvent("channel", "ticker", 0, 2, b'{"price":1}'))
    assert sink.written == [b'event: channel\ndata: {"price":1}\n\n']
    assert woken == [], "no task for an event already on the wire (one per socket per event, else)"
    conn.sink = Stalled()  # type: ignore[assignment]
    conn.offer(BusEvent("channel", "ticker", 0, 2, b'{"price":2}'))
    assert woken == [conn], "one that must wait still wakes it"
