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

No task waits on an idle connection. The bus writes an in-order event straight
to the sink (``Connection.offer``); the loop (``Gateway._pump``) runs only while
a connection has work that must wait: items queued behind a full socket buffer
or out of order, a replay, a flush to a transport that can only be awaited.
Heartbeats come from one sweep over all connections, and a gap arms one
timer. So an idle stream costs its objects' memory and nothing else.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Sequence

import msgspec

from herald.delivery.connection import Connection, Stats
from herald.delivery.direct import DirectSink
from herald.delivery.protocols import Encoder, Sink
from herald.delivery.starts import CatchUp, StartLoader
from herald.errors import invalid_request
from herald.fanout.base import BusEvent, Fanout, Listener
from herald.inbox import Inbox, InboxWrite
from herald.preferences import category_of
from herald.metrics import Metrics
from herald.tasks import cancel
from herald.wire import MAX_CHANNELS

if TYPE_CHECKING:
    from herald.preferences import Preferences as Personalize

log = logging.getLogger("herald.gateway")

REPLAY_PAGE = 200


class _Shape(msgspec.Struct, rename="camel"):
    type: str
    category: str | None = None


_shape = msgspec.json.Decoder(_Shape).decode


class Gateway:
    def __init__(self, inbox: Inbox, fanout: Fanout, metrics: Metrics, *, heartbeat_seconds: float,
                 retry_milliseconds: int, queue_limit: int, gap_fill_seconds: float,
                 writes_per_second: int = 1 << 30, connections_per_user: int = 1 << 30,
                 catch_up: CatchUp | None = None) -> None:
        self.inbox = inbox
        self.fanout = fanout
        self.metrics = metrics
        self.heartbeat_seconds = heartbeat_seconds
        self.retry_milliseconds = retry_milliseconds
        self.queue_limit = queue_limit
        self.gap_fill_seconds = gap_fill_seconds
        self.writes_per_second = writes_per_second
        self.connections_per_user = connections_per_user
        # Sweeps often enough that no stream stays silent longer than heartbeat_seconds.
        self.sweep_seconds = min(1.0, heartbeat_seconds / 3)
        self._stats: dict[str, Stats] = {}
        self._open: dict[Connection, str] = {}  # connection -> transport
        self._opened_at: dict[Connection, float] = {}  # connection -> epoch seconds, for the admin's support page
        self._of_user: dict[str, dict[Connection, None]] = {}  # oldest first
        self._pumps: set[asyncio.Task[None]] = set()
        self.catch_up = catch_up
        self.personalize: Personalize | None = None  # preferences.py, plugged in by services.py
        self._marking: set[asyncio.Task[None]] = set()
        self._in_order = asyncio.Lock()  # FIFO: broadcasts go out in the order they came, also when a lookup waits
        self._starts = StartLoader(inbox, catch_up)
        self._sweeper: asyncio.Task[None] | None = None
        metrics.watch_gateway(self._stats)

    @property
    def connections(self) -> int:
        return len(self._open)

    def connections_of(self, user_id: str) -> list[tuple[str, float, tuple[str, ...]]]:
        """This node's open connections of one user, oldest first: (transport, opened at in epoch seconds, channels)."""
        return [(self._open[conn], self._opened_at.get(conn, 0.0), conn.channels)
                for conn in self._of_user.get(user_id, ()) if conn in self._open]

    def stats(self, transport: str) -> Stats:
        return self._stats.setdefault(transport, Stats())

    async def start(self) -> None:
        if self.personalize is not None:
            self.fanout.on_broadcast = self._broadcast
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="herald-gateway-sweep")

    async def stop(self) -> None:
        """End every stream (clients reconnect elsewhere and resume from their cursors)."""
        await cancel([self._sweeper])
        for conn in list(self._open):
            if conn.sink is not None:
                conn.sink.close()
            self._closed(conn)
        await cancel(list(self._pumps))

    async def open(self, user_id: str, resume: int | None, encoder: Encoder, sink: Sink,
                   transport: str, channels: Sequence[str] = ()) -> Connection | None:
        """Subscribe one connection: opening frames written, then events until the client leaves.

        Returns None when the client left during the opening. The caller keeps
        nothing: from here on the bus, the sweep and the pump serve the connection.
        """
        conn = Connection(user_id, self.queue_limit, self.stats(transport), self.writes_per_second)
        conn.encoder = encoder
        conn.on_wake = self.wake
        conn.on_gap = self._arm_gap_timer
        sink.on_close = lambda: self._closed(conn)
        # Attach before reading the inbox, so nothing committed in between is missed.
        self.fanout.attach(user_id, conn)
        self._open[conn] = transport
        self._opened_at[conn] = time.time()
        self.metrics.connections.labels(transport).inc()
        mine = self._of_user.setdefault(user_id, {})
        mine[conn] = None
        if len(mine) > self.connections_per_user:
            # The newest tab wins: the oldest is told why it ends, so its client does not reconnect.
            oldest = next(iter(mine))
            if oldest.sink is not None:
                oldest.sink.close("too_many_connections")
            self._closed(oldest)
        try:
            self.join(conn, channels)
            start = await self._starts.load(user_id)
            reset = resume is not None and (resume > start.last_seq or resume < start.pruned_seq)
            cursor = start.last_seq if resume is None or reset else resume
            conn.start(cursor)
            if cursor < start.last_seq:
                conn.replay_after, conn.replay_until = cursor, start.last_seq
            conn.personal = start.personal
            for topic in start.topics:
                self.fanout.follow(topic, conn)
            if start.topics and self.catch_up is not None:
                # A topic's broadcast committed between the catch-up and these follows reached no one here:
                # the first replay copies again (usually nothing) and reads on to the head.
                conn.missed_broadcasts = True
                if conn.replay_after is None:
                    conn.replay_after, conn.replay_until = cursor, None
            if reset:
                self.metrics.resets.inc()
            await sink.flush(encoder.opening(self.retry_milliseconds, cursor, start.unread, reset))
        except BaseException:
            self._closed(conn)
            raise
        if conn not in self._open:  # a newer connection of the same user took its place meanwhile
            sink.close("too_many_connections")
            return None
        if sink.closed:
            self._closed(conn)
            return None
        conn.last_write = time.monotonic()
        conn.sink = sink
        if isinstance(sink, DirectSink):
            self.metrics.direct.labels(transport).inc()
        if conn.has_work():
            self.wake(conn)
        return conn

    def join(self, conn: Connection, channels: Sequence[str]) -> None:
        """Add live channels to a connection (at most ``MAX_CHANNELS`` in all; the caller checks names)."""
        wanted = [name for name in dict.fromkeys(channels) if name not in conn.channels]
        if len(conn.channels) + len(wanted) > MAX_CHANNELS:
            raise invalid_request(f"A connection may join at most {MAX_CHANNELS} live channels.")
        for name in wanted:
            self.fanout.join(name, conn)
        conn.channels += tuple(wanted)

    def leave(self, conn: Connection, channels: Sequence[str]) -> None:
        for name in channels:
            self.fanout.leave(name, conn)
        conn.channels = tuple(name for name in conn.channels if name not in channels)

    def _closed(self, conn: Connection) -> None:
        transport = self._open.pop(conn, None)
        self._opened_at.pop(conn, None)
        if transport is None:
            return
        self.leave(conn, conn.channels)
        mine = self._of_user.get(conn.user_id)
        if mine is not None:
            mine.pop(conn, None)
            if not mine:
                del self._of_user[conn.user_id]
        conn.sink = None
        conn.on_wake = None
        if conn.gap_timer is not None:
            conn.gap_timer.cancel()
            conn.gap_timer = None
        self.fanout.detach(conn.user_id, conn)
        self.metrics.connections.labels(transport).dec()

    def wake(self, conn: Connection) -> None:
        """Run the connection's loop (``_pump``) unless it runs already or the connection is closed."""
        sink, encoder = conn.sink, conn.encoder
        if conn.pumping or sink is None or encoder is None:
            return
        conn.pumping = True
        # The pump gets the sink now: a close may clear ``conn.sink`` before the task first runs,
        # and then the pump sees ``sink.closed`` and ends, instead of finding no sink at all.
        task = asyncio.get_running_loop().create_task(self._pump(conn, sink, encoder))
        self._pumps.add(task)
        task.add_done_callback(self._pumps.discard)

    async def _pump(self, conn: Connection, sink: Sink, encoder: Encoder) -> None:
        """The subscribe loop of one connection, for as long as it has work that must wait."""
        try:
            while not sink.closed:
                delay = conn.write_delay(time.monotonic()) if conn.waiting() else 0.0
                if delay:
                    # Over its writes per second: what arrives meanwhile goes out together, in one write.
                    await asyncio.sleep(delay)
                    continue
                frames = conn.drain(encoder)
                if frames:
                    # drain() and the write inside flush() happen with no await between them,
                    # so a direct write from the bus cannot land ahead of these frames.
                    conn.stats.delivered += len(frames)
                    conn.heartbeat_due = False
                    conn.count_write(time.monotonic())
                    await sink.flush(frames)
                    conn.last_write = time.monotonic()
                elif conn.replay_after is not None:
                    # Only when nothing queued may be written: the queue never grows by more than a page.
                    await self._replay_page(conn)
                elif conn.heartbeat_due:
                    conn.heartbeat_due = False
                    await sink.flush([encoder.heartbeat()])
                    conn.last_write = time.monotonic()
                else:
                    break
        except Exception:  # noqa: BLE001 - e.g. the database is down mid-replay: the client resumes elsewhere
            log.warning("stream of %s ended by an error; the client will resume", conn.user_id, exc_info=True)
            sink.close()
        finally:
            conn.pumping = False

    async def _replay_page(self, conn: Connection) -> None:
        after, until = conn.replay_after, conn.replay_until
        assert after is not None
        start = max(after, conn.cursor)
        overflows, resyncs = conn.overflows, conn.resyncs
        if conn.missed_broadcasts and self.catch_up is not None:
            conn.missed_broadcasts = False  # dropped from a full queue: read back from the inbox, in order
            await self.catch_up([conn.user_id])
        rows = await self.inbox.items_after(conn.user_id, start, REPLAY_PAGE, until)
        if conn.overflows != overflows:
            return  # the queue overflowed meanwhile and asked for a re-read from the cursor: that one wins
        if len(rows) == REPLAY_PAGE:
            covered = rows[-1][0]
            conn.replay_after = covered
        else:
            covered = until if until is not None else (rows[-1][0] if rows else start)
            if conn.resyncs != resyncs:
                # The bus came back while this page was read (it may have lost anything past the
                # bound this replay had): read on to the inbox head instead of ending here.
                conn.replay_after, conn.replay_until = covered, None
            else:
                conn.replay_after = conn.replay_until = None
        conn.add_replayed(rows, start, covered)

    def _broadcast(self, event: BusEvent, listeners: Sequence[Listener]) -> None:
        """A broadcast's live event, marked as preferences say: the category's defaults for everyone
        (one lookup, cached), and each user's own choices, quiet hours and presence for those who saved any."""
        task = asyncio.get_running_loop().create_task(self._mark(event, listeners))
        self._marking.add(task)
        task.add_done_callback(self._marking.discard)

    async def _mark(self, event: BusEvent, listeners: Sequence[Listener]) -> None:
        assert self.personalize is not None
        payload, shape = event.payload, _shape(event.payload)
        category = category_of(shape.category, shape.type)
        own: dict[str, list[Connection]] = {}
        async with self._in_order:
            try:
                flags = await self.personalize.broadcast_flags(category)
            except Exception:  # noqa: BLE001 - the defaults could not be read: the event goes out as sent
                log.exception("reading the category defaults for a broadcast failed")
                flags = b""
            generic = msgspec.structs.replace(event, payload=payload[:-1] + flags + b"}") if flags else event
            for listener in listeners:
                if isinstance(listener, Connection) and listener.personal:
                    own.setdefault(listener.user_id, []).append(listener)
                else:
                    listener.offer(generic)
        if not own:
            return
        try:
            applied = await self.personalize.apply(
                [InboxWrite(user, 0, event.rank, payload, has_preferences=True) for user in own], category, hold=False)
            marked = {write.user_id: write.payload for write in applied.deliveries}
        except Exception:  # noqa: BLE001 - preferences unreadable: these users get the event as everyone does
            log.exception("marking a broadcast for %d users failed", len(own))
            marked = {}
        for user, conns in own.items():
            personal = msgspec.structs.replace(generic, payload=marked[user]) if user in marked else generic
            for conn in conns:
                conn.offer(personal)

    def _arm_gap_timer(self, conn: Connection) -> None:
        due = conn.gap_due(self.gap_fill_seconds)
        if conn.gap_timer is None and due is not None:
            delay = max(0.0, due - time.monotonic())
            conn.gap_timer = asyncio.get_running_loop().call_later(delay, self._gap_due, conn)

    def _gap_due(self, conn: Connection) -> None:
        conn.gap_timer = None
        due = conn.gap_due(self.gap_fill_seconds)
        if due is None or conn.on_wake is None:
            return
        if due > time.monotonic():
            self._arm_gap_timer(conn)  # the gap closed and a newer one opened meanwhile
            return
        conn.fill_gap()
        self.wake(conn)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_seconds)
            self.sweep(time.monotonic())

    def sweep(self, now: float) -> None:
        """Heartbeats for streams silent for about ``heartbeat_seconds``; the fan-out backlog for the metrics."""
        silent_since = now - (self.heartbeat_seconds - self.sweep_seconds)
        depth, oldest = 0, 0.0
        for conn in self._open:
            if conn.waiting():
                waiting, sent_at = conn.backlog()
                depth += waiting
                if sent_at and (not oldest or sent_at < oldest):
                    oldest = sent_at
            if conn.last_write > silent_since or conn.pumping or conn.sink is None:
                continue
            if conn.sink.write(conn.encoder.heartbeat()):  # type: ignore[union-attr]
                conn.last_write = now
            else:
                conn.heartbeat_due = True
                self.wake(conn)
        self.metrics.set_fanout_backlog(depth, time.time() - oldest if oldest else 0.0)
