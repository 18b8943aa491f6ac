"""What committed stands when the bus fails after the commit: read state during a Redis outage (fault 1 of issue 15).

Publishing already answered 202 with Redis down; marking read answered 500
(``redis.exceptions.ConnectionError`` escaped the fan-out) and, over a
WebSocket, killed the socket. Now both paths share the publisher's one rule:
the change is committed, the failure is logged and counted, the client gets
its answer, and connections recover from the inbox when the bus is back.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import websockets

from tests.herald_server import HeraldServer, RedisServer
from tests.scrape import metric
from tests.transports import subscribe


@pytest.fixture
def node(tmp_path: Path, redis_server: RedisServer) -> Iterator[HeraldServer]:
    herald = HeraldServer(tmp_path / "node", HERALD_REDIS_URL=redis_server.url).start()
    yield herald
    herald.stop()


def test_marking_read_with_redis_down_answers_and_keeps_the_read(node: HeraldServer, redis_server: RedisServer) -> None:
    user = "reader"
    headers = {"Authorization": f"Bearer {node.token(user)}"}
    first, second, third = (node.publish(to={"users": [user]}, type="t", title=f"n{i}")["id"] for i in range(3))
    redis_server.stop()
    one = httpx.post(f"{node.url}/api/notifications/{first}/read", headers=headers, timeout=30)
    assert (one.status_code, one.json()) == (200, {"unreadCount": 2})
    every = httpx.post(f"{node.url}/api/notifications/read-all", headers=headers, timeout=30)
    assert (every.status_code, every.json()) == (200, {"unreadCount": 0})
    page = httpx.get(f"{node.url}/api/notifications", headers=headers, timeout=30).json()
    assert [item["read"] for item in page["items"]] == [True, True, True], "the reads are committed"
    assert metric(node, "herald_redis_errors_total", '{operation="publish"}') >= 2, "the failures are counted"
    assert "Traceback" not in node.log_path.read_text() and second and third


async def test_a_websocket_read_with_redis_down_keeps_the_socket(node: HeraldServer, redis_server: RedisServer) -> None:
    user = "socket-reader"
    item = node.publish(to={"users": [user]}, type="t", title="read me while Redis is down")["id"]
    url = node.url.replace("http://", "ws://") + "/api/notifications/ws"
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {node.token(user)}"}) as ws:
        await ws.send(json.dumps({"type": "resume"}))
        assert json.loads(await ws.recv())["type"] == "ready"
        redis_server.stop()
        await ws.send(json.dumps({"type": "read", "ids": [item]}))
        await ws.send(json.dumps({"type": "ping"}))
        # The socket lives on: the ping after the read is answered.
        while (message := json.loads(await ws.recv()))["type"] != "pong":
            assert message["type"] != "error", message
    assert node.sql("SELECT read FROM inbox_items WHERE user_id = :u", u=user) == [(True,)]


async def test_a_read_made_during_the_outage_reaches_the_other_tab_when_redis_is_back(
        node: HeraldServer, redis_server: RedisServer) -> None:
    user = "two-tabs"
    token = node.token(user)
    item = node.publish(to={"users": [user]}, type="t", title="read on the phone")["id"]
    async with subscribe("sse", node.url, token) as tab:
        await tab.until("ready")
        redis_server.stop()
        answer = httpx.post(f"{node.url}/api/notifications/{item}/read",
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert answer.status_code == 200
        redis_server.start()  # same port: the node re-subscribes and its connections re-read the inbox
        read = await tab.until("read", timeout=30)
    assert read.data["ids"] == [item] and read.data["unreadCount"] == 0


def test_triage_clicks_and_presence_with_redis_down_answer_and_keep_the_change(
        node: HeraldServer, redis_server: RedisServer) -> None:
    user = "triager"
    headers = {"Authorization": f"Bearer {node.token(user)}"}
    first, second = (node.publish(to={"users": [user]}, type="t", title=f"n{i}")["id"] for i in range(2))
    redis_server.stop()
    archived = httpx.post(f"{node.url}/api/notifications/{first}/archive", headers=headers, timeout=30)
    assert (archived.status_code, archived.json()) == (200, {"unreadCount": 1})
    clicked = httpx.post(f"{node.url}/api/notifications/{second}/click", headers=headers, timeout=30)
    assert (clicked.status_code, clicked.json()) == (200, {"unreadCount": 0})
    # Presence only spares a push: a report Redis cannot store is accepted, not a 500.
    seen = httpx.post(f"{node.url}/api/presence", json={"client": "tab-1", "visible": True}, headers=headers, timeout=30)
    assert seen.status_code == 204, seen.text
    page = httpx.get(f"{node.url}/api/notifications", params={"archived": "true"}, headers=headers, timeout=30).json()
    assert [item["id"] for item in page["items"]] == [first], "the archive is committed"
    assert "Traceback" not in node.log_path.read_text()
