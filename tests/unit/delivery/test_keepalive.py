"""One timer pings every socket of a process in turn, and closes those whose pong does not come in time."""
from __future__ import annotations

import asyncio

from herald.delivery.keepalive import Keepalive


class Peer:
    def __init__(self, answers: bool) -> None:
        self.answers = answers
        self.closed = False
        self.pings: list[bytes] = []
        self.keepalive: Keepalive | None = None

    def ping(self) -> bytes:
        payload = b"%d" % len(self.pings)
        self.pings.append(payload)
        if self.answers:  # the pong arrives a moment later, as data_received would report it
            asyncio.get_running_loop().call_later(0.01, self.keepalive.watch, self)  # type: ignore[union-attr]
        return payload

    def pong_missed(self, payload: bytes) -> None:
        if not self.answers:
            self.closed = True


async def test_a_silent_peer_is_closed_after_one_ping_and_a_live_one_is_pinged_on() -> None:
    keepalive = Keepalive(0.05, 0.05, asyncio.get_running_loop())
    live, silent, gone = Peer(True), Peer(False), Peer(True)
    for peer in (live, silent, gone):
        peer.keepalive = keepalive
        keepalive.watch(peer)
    gone.closed = True  # the client left before its first ping
    await asyncio.sleep(0.4)
    assert silent.closed and len(silent.pings) == 1, "one ping, then closed at its deadline"
    assert not live.closed and len(live.pings) >= 4, "pinged again each interval after each pong"
    assert gone.pings == [], "a closed socket is skipped"


async def test_a_keepalive_without_a_deadline_only_pings() -> None:
    keepalive = Keepalive(0.05, 0.0, asyncio.get_running_loop())
    silent = Peer(False)
    keepalive.watch(silent)
    await asyncio.sleep(0.3)
    assert not silent.closed and len(silent.pings) >= 3
