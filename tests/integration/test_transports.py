"""The delivery contract, proved the same way over SSE, WebSocket and long polling."""
from __future__ import annotations

import asyncio
import json
import random

import httpx
import pytest
import websockets

from tests.herald_server import HeraldServer
from tests.transports import TRANSPORTS, subscribe, wait_for_receipt

pytestmark = pytest.mark.parametrize("transport", TRANSPORTS)


async def test_resume_after_random_drops_loses_nothing(server: HeraldServer, user_id: str, transport: str) -> None:
    rng = random.Random(7)
    token = server.token(user_id)
    published: list[str] = []
    received: list[str] = []
    cursor = "0"
    for _ in range(6):
        for _ in range(rng.randint(1, 4)):
            published.append(server.publish(to={"users": [user_id]}, type="t", title=f"n{len(published)}")["id"])
        async with subscribe(transport, server.url, token, cursor) as sub:
            await sub.until("ready")
            for _ in range(rng.randint(0, len(published) - len(set(received)))):
                message = await sub.until("notification")
                received.append(message.data["id"])
                cursor = message.cursor
    async with subscribe(transport, server.url, token, cursor) as sub:
        await sub.until("ready")
        while set(received) != set(published):
            received.append((await sub.until("notification")).data["id"])
    assert list(dict.fromkeys(received)) == published
    if transport != "poll":  # a stream carries a cursor per item, so nothing repeats
        assert received == published


async def test_users_only_see_their_own_items(server: HeraldServer, user_id: str, transport: str) -> None:
    other = user_id + "-x"
    async with subscribe(transport, server.url, server.token(user_id)) as mine:
        await mine.until("ready")
        server.publish(to={"users": [other]}, type="t", title="not yours")
        sent = server.publish(to={"users": [user_id]}, type="t", title="yours")["id"]
        assert (await mine.until("notification")).data["id"] == sent


async def test_read_changes_reach_other_connections(server: HeraldServer, user_id: str, transport: str) -> None:
    token = server.token(user_id)
    item = server.publish(to={"users": [user_id]}, type="t", title="read me")["id"]
    async with subscribe(transport, server.url, token) as other_tab:
        assert (await other_tab.until("ready")).data["unreadCount"] == 1
        await asyncio.sleep(0.3)  # a long poll must be waiting
        httpx.post(f"{server.url}/api/notifications/{item}/read", headers={"Authorization": f"Bearer {token}"})
        read = await other_tab.until("read")
        assert read.data["ids"] == [item] and read.data["unreadCount"] == 0


async def test_backlog_is_written_urgent_first(server: HeraldServer, user_id: str, transport: str) -> None:
    token = server.token(user_id)
    low = [server.publish(to={"users": [user_id]}, type="t", title=f"l{i}", priority="low")["id"] for i in range(3)]
    urgent = server.publish(to={"users": [user_id]}, type="t", title="u", priority="urgent")["id"]
    async with subscribe(transport, server.url, token, "0") as sub:
        await sub.until("ready")
        order = [(await sub.until("notification")).data["id"] for _ in range(4)]
    assert order == [urgent, *low]


async def test_cursor_ahead_of_the_inbox_gets_reset(server: HeraldServer, user_id: str, transport: str) -> None:
    async with subscribe(transport, server.url, server.token(user_id), "999") as sub:
        await sub.until("reset")


async def test_malformed_cursor_is_refused(server: HeraldServer, user_id: str, transport: str) -> None:
    token = server.token(user_id)
    if transport == "websocket":
        url = server.url.replace("http://", "ws://") + "/api/notifications/ws"
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            await ws.send(json.dumps({"type": "resume", "cursor": "abc"}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd.code == 4400
        return
    path = "/api/notifications/stream?lastEventId=abc" if transport == "sse" else "/api/notifications/poll?cursor=abc"
    response = httpx.get(server.url + path, headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_cursor")


async def test_no_credentials_are_refused(server: HeraldServer, transport: str) -> None:
    if transport == "websocket":
        url = server.url.replace("http://", "ws://") + "/api/notifications/ws"
        async with websockets.connect(url) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd.code == 4401
        return
    path = "/api/notifications/stream" if transport == "sse" else "/api/notifications/poll"
    response = httpx.get(server.url + path, headers={"Authorization": "Bearer forged.token.here"})
    assert (response.status_code, response.json()["error"]) == (401, "unauthorized")


async def test_acknowledged_items_get_a_delivered_receipt(server: HeraldServer, user_id: str, transport: str) -> None:
    token = server.token(user_id)
    async with subscribe(transport, server.url, token) as sub:
        await sub.until("ready")
        kept = server.publish(to={"users": [user_id]}, type="t", title="acked")["id"]
        unacked = server.publish(to={"users": [user_id]}, type="t", title="not acked")["id"]
        seen = {(await sub.until("notification")).data["id"] for _ in range(2)}
        assert seen == {kept, unacked}
        await sub.ack([kept])
        receipts = await asyncio.to_thread(wait_for_receipt, server, user_id, kept)
    assert receipts == {kept: True, unacked: False}
