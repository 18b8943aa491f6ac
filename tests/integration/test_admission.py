"""New subscriber connections per client address and per node: 429 (WebSocket: 4029) with a time to retry."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import websockets

from tests.herald_server import HeraldServer
from tests.scrape import metric
from tests.sse_client import open_stream


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[HeraldServer]:
    """A server allowing each address 3 new connections, then one per 20 s."""
    herald = HeraldServer(tmp_path / "herald", HERALD_CONNECT_ADDRESS_RATE_PER_SECOND="0.05",
                          HERALD_CONNECT_ADDRESS_BURST="3").start()
    yield herald
    herald.stop()


async def _websocket_close_code(herald: HeraldServer, token: str) -> tuple[int | None, str | None]:
    url = herald.url.replace("http://", "ws://") + "/api/notifications/ws"
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        try:
            await ws.send(json.dumps({"type": "resume", "cursor": None}))
            first = json.loads(await ws.recv())
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None, closed.rcvd.reason if closed.rcvd else None
        return None, first["type"]


async def test_every_transport_is_refused_beyond_the_address_limit(limited: HeraldServer, user_id: str) -> None:
    token = limited.token(user_id)
    headers = {"Authorization": f"Bearer {token}"}
    async with open_stream(limited.url, token) as first, open_stream(limited.url, token) as second:
        await first.until("ready")
        await second.until("ready")
        assert httpx.get(limited.url + "/api/notifications/poll", params={"timeout": "0"},
                         headers=headers).status_code == 200
        # The fourth new connection from this address, whatever its transport.
        refused = httpx.get(limited.url + "/api/notifications/stream", headers=headers)
        assert refused.status_code == 429
        assert refused.json() == {"error": "rate_limited",
                                  "message": "Too many new connections; retry after the time in Retry-After."}
        assert 1 <= int(refused.headers["retry-after"]) <= 20
        assert httpx.get(limited.url + "/api/notifications/poll", params={"timeout": "0"},
                         headers=headers).status_code == 429
        code, reason = await _websocket_close_code(limited, token)
        assert code == 4029 and reason and reason.startswith("rate limited; retry after ")
        # Open streams are not disturbed by the refusals.
        limited.publish(to={"users": [user_id]}, type="t", title="still here")
        assert (await first.until("notification")).json()["title"] == "still here"
    assert metric(limited, "herald_rate_limited_total", '{reason="connect_address"}') == 3
    # Other endpoints are not connection-limited.
    assert httpx.get(limited.url + "/api/notifications", headers=headers).status_code == 200


def test_forwarded_for_picks_the_bucket_only_behind_a_trusted_proxy(tmp_path: Path) -> None:
    limits = {"HERALD_CONNECT_ADDRESS_RATE_PER_SECOND": "0.05", "HERALD_CONNECT_ADDRESS_BURST": "1"}
    direct = HeraldServer(tmp_path / "direct", **limits).start()
    proxied = HeraldServer(tmp_path / "proxied", HERALD_TRUSTED_PROXIES="127.0.0.1", **limits).start()
    try:
        def status(herald: HeraldServer, forwarded: str) -> int:
            # No credentials: the limit applies before authentication, so this is a 401 when admitted.
            return httpx.get(herald.url + "/api/notifications/stream", headers={"X-Forwarded-For": forwarded},
                             timeout=10).status_code

        # Without a trusted proxy the header is the attacker's word: every request is 127.0.0.1's.
        assert [status(direct, "198.51.100.1"), status(direct, "198.51.100.2")] == [401, 429]
        # Behind a trusted proxy each client address has its own bucket, read from the right: what a
        # client puts in front of the address our proxy appended does not give it a new one.
        assert [status(proxied, "198.51.100.1"), status(proxied, "198.51.100.2"),
                status(proxied, "203.0.113.5, 198.51.100.1")] == [401, 401, 429]
    finally:
        direct.stop()
        proxied.stop()


def test_the_node_limit_holds_whatever_the_address(fresh_server: HeraldServer) -> None:
    fresh_server.env.update(HERALD_CONNECT_RATE_PER_SECOND="0.05", HERALD_CONNECT_BURST="2",
                            HERALD_CONNECT_ADDRESS_RATE_PER_SECOND="0", HERALD_TRUSTED_PROXIES="127.0.0.1")
    fresh_server.start()
    answers = [httpx.get(fresh_server.url + "/api/notifications/stream",
                         headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(3)]
    assert answers == [401, 401, 429]
    assert metric(fresh_server, "herald_rate_limited_total", '{reason="connect_node"}') == 1


async def test_connects_and_reconnects_are_counted_by_transport(server: HeraldServer, user_id: str) -> None:
    token = server.token(user_id)

    def counts(transport: str) -> tuple[float, float]:
        labels = f'{{transport="{transport}"}}'
        return metric(server, "herald_connects_total", labels), metric(server, "herald_reconnects_total", labels)

    before = {t: counts(t) for t in ("sse", "websocket", "poll")}
    async with open_stream(server.url, token) as fresh:
        cursor = (await fresh.until("ready")).id
    async with open_stream(server.url, token, last_event_id=cursor) as resumed:
        await resumed.until("ready")
    async with open_stream(server.url, token, query=f"?lastEventId={cursor}") as resumed:
        await resumed.until("ready")
    url = server.url.replace("http://", "ws://") + "/api/notifications/ws"
    for resume in (None, cursor):
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            await ws.send(json.dumps({"type": "resume", "cursor": resume}))
            assert json.loads(await ws.recv())["type"] == "ready"
    headers = {"Authorization": f"Bearer {token}"}
    httpx.get(server.url + "/api/notifications/poll", params={"timeout": "0"}, headers=headers)
    httpx.get(server.url + "/api/notifications/poll", params={"timeout": "0", "cursor": cursor}, headers=headers)

    def gained(transport: str) -> tuple[float, float]:
        now = counts(transport)
        return now[0] - before[transport][0], now[1] - before[transport][1]

    assert gained("sse") == (3, 2)
    assert gained("websocket") == (2, 1)
    assert gained("poll") == (2, 1)
