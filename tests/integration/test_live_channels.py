"""Live channels: events with no inbox (reactions, tickers), best-effort over SSE and WebSocket."""
from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from tests.herald_server import HeraldServer
from tests.sse_client import open_stream


def live(server: HeraldServer, channel: str, title: str = "❤", **extra: object) -> httpx.Response:
    return httpx.post(server.url + "/api/publish", headers=server.headers(), timeout=10, json={
        "to": {"channel": channel}, "persist": False, "type": "reaction", "title": title, **extra})


async def test_a_live_event_reaches_the_channels_subscribers_and_is_kept_nowhere(server: HeraldServer, user_id: str) -> None:
    channel = f"stream-{user_id}"
    other = user_id + "-other"
    async with open_stream(server.url, server.token(user_id), query=f"?channels={channel},ticker") as joined, \
            open_stream(server.url, server.token(other)) as not_joined:
        await joined.until("ready")
        await not_joined.until("ready")
        response = live(server, channel, data={"emoji": "heart"})
        assert response.status_code == 202, response.text
        answer = response.json()
        assert answer["recipients"] is None, "best-effort delivery is not counted"
        event = await joined.until("channel")
        assert event.id is None, "a live event does not move the resume cursor"
        body = event.json()
        assert {k: body[k] for k in ("id", "channel", "type", "title", "data")} == {
            "id": answer["id"], "channel": channel, "type": "reaction", "title": "❤", "data": {"emoji": "heart"}}
        # Inbox items keep their own cursor across live events.
        sent = server.publish(to={"users": [user_id]}, type="t", title="inbox")["id"]
        item = await joined.until("notification")
        assert (item.json()["id"], item.id) == (sent, "1")
        with pytest.raises(asyncio.TimeoutError):
            await not_joined.until("channel", timeout=0.5)
    listing = httpx.get(server.url + "/api/notifications", headers={"Authorization": f"Bearer {server.token(user_id)}"})
    assert [i["id"] for i in listing.json()["items"]] == [sent], "the live event is not in the inbox"


async def test_websocket_clients_join_and_leave_channels_while_connected(server: HeraldServer, user_id: str) -> None:
    ws_url = server.url.replace("http", "ws") + "/api/notifications/ws"
    async with websockets.connect(ws_url, additional_headers={"Authorization": f"Bearer {server.token(user_id)}"}) as ws:
        await ws.send(json.dumps({"type": "resume", "cursor": None, "channels": ["room-a"]}))
        assert json.loads(await ws.recv())["type"] == "ready"
        live(server, "room-a", title="in a")
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert (message["type"], message["event"]["title"]) == ("channel", "in a")
        await ws.send(json.dumps({"type": "subscribe", "channels": ["room-b"]}))
        await ws.send(json.dumps({"type": "unsubscribe", "channels": ["room-a"]}))
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "pong"  # both handled by now
        live(server, "room-a", title="after leaving a")
        live(server, "room-b", title="in b")
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert message["event"]["title"] == "in b", "nothing from a channel left"
        await ws.send(json.dumps({"type": "subscribe", "channels": [f"c{i}" for i in range(16)]}))
        error = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert (error["type"], error["error"]) == ("error", "invalid_request"), "at most 16 channels per connection"


@pytest.mark.parametrize(("body", "reason"), [
    ({"to": {"channel": "c"}, "type": "t", "title": "x"}, "a channel without persist false"),
    ({"to": {"users": ["u"]}, "persist": False, "type": "t", "title": "x"}, "persist false without a channel"),
    ({"to": {"channel": "c"}, "persist": False, "type": "t", "title": "x", "groupKey": "g"}, "grouping needs the inbox"),
    ({"to": {"channel": "c"}, "persist": False, "type": "t", "title": "x", "idempotencyKey": "k"}, "so does dedupe"),
    ({"to": {"channel": "has space"}, "persist": False, "type": "t", "title": "x"}, "a bad channel name"),
    ({"to": {"channel": "c", "users": ["u"]}, "persist": False, "type": "t", "title": "x"}, "two targets"),
])
def test_bad_live_publishes_are_400(server: HeraldServer, body: dict, reason: str) -> None:
    response = httpx.post(server.url + "/api/publish", json=body, headers=server.headers())
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request"), reason


@pytest.mark.parametrize("query", ["?channels=bad%20name", "?channels=" + ",".join(f"c{i}" for i in range(17))])
def test_a_stream_asking_for_bad_channels_is_400(server: HeraldServer, user_id: str, query: str) -> None:
    response = httpx.get(server.url + "/api/notifications/stream" + query,
                         headers={"Authorization": f"Bearer {server.token(user_id)}"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


