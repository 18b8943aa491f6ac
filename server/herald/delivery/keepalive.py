"""WebSocket pings for every direct socket of a process, from one timer.

RFC 6455 pings find the peers that vanished without a FIN (a phone that lost
its network, a NAT entry dropped): each socket is pinged every ``interval``
and closed when its pong has not come within ``timeout``. uvicorn arms two
timers per socket for this; 16,000 idle sockets then hold 16,000 timer
handles, each with a copy of the request's context. Because every socket
waits the same interval, the order sockets are due in is the order they were
queued in: two FIFO queues and one timer for the earliest due are enough.
"""
from __future__ import annotations

import asyncio
import collections
from typing import Protocol


class Pingable(Protocol):
    closed: bool

    def ping(self) -> bytes:
        """Send a ping; its payload, which the pong must echo."""

    def pong_missed(self, payload: bytes) -> None:
        """No pong for ``payload`` in time: close, unless it was answered."""


class Keepalive:
    __slots__ = ("interval", "timeout", "_loop", "_pings", "_pongs", "_timer", "_due")

    def __init__(self, interval: float, timeout: float, loop: asyncio.AbstractEventLoop) -> None:
        self.interval, self.timeout = interval, timeout
        self._loop = loop
        self._pings: collections.deque[tuple[float, Pingable]] = collections.deque()
        self._pongs: collections.deque[tuple[float, Pingable, bytes]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self._due = 0.0

    def watch(self, socket: Pingable) -> None:
        """Ping ``socket`` one interval from now (on opening, and each time it answers)."""
        due = self._loop.time() + self.interval
        self._pings.append((due, socket))
        self._arm(due)

    def _tick(self) -> None:
        self._timer = None
        now = self._loop.time()
        pings, pongs = self._pings, self._pongs
        while pings and pings[0][0] <= now:
            socket = pings.popleft()[1]
            if socket.closed:
                continue
            payload = socket.ping()
            if self.timeout:
                pongs.append((now + self.timeout, socket, payload))
            else:  # pinged with no deadline: only to keep proxies and NAT entries from dropping it
                pings.append((now + self.interval, socket))
        while pongs and pongs[0][0] <= now:
            _, socket, payload = pongs.popleft()
            if not socket.closed:
                socket.pong_missed(payload)
        due = min(pings[0][0] if pings else float("inf"), pongs[0][0] if pongs else float("inf"))
        if due != float("inf"):
            self._arm(due)

    def _arm(self, due: float) -> None:
        if self._timer is not None and self._due <= due:
            return  # the timer goes off first, and re-arms for what is due after it
        if self._timer is not None:
            self._timer.cancel()
        self._due = due
        self._timer = self._loop.call_at(due, self._tick)


_running: dict[tuple[float, float], Keepalive] = {}


def keepalive(interval: float, timeout: float) -> Keepalive:
    """The process's keepalive for these settings, on the running loop."""
    loop = asyncio.get_running_loop()
    found = _running.get((interval, timeout))
    if found is None or found._loop is not loop:
        found = _running[(interval, timeout)] = Keepalive(interval, timeout, loop)
    return found
