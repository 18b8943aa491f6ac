"""Delivered receipts: the batched HTTP endpoint, the WebSocket ``ack``, what is stored and what is refused."""
from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets

from tests.herald_server import HeraldServer
from tests.scrape import metric
from tests.transports import wait_for_receipt


def ack(server: HeraldServer, token: str, ids: object, **kwargs: object) -> httpx.Response:
    return httpx.post(server.url + "/api/notifications/ack", json={"ids": ids},
                      headers={"Authorization": f"Bearer {token}"}, **kwargs)  # type: ignore[arg-type]


def stamps(server: HeraldServer, user_id: str) -> dict[str, int | None]:
    return dict(server.sql("SELECT id, delivered_at FROM inbox_items WHERE user_id = :u", u=user_id))


def test_first_receipt_wins_and_repeats_change_nothing(server: HeraldServer, user_id: str) -> None:
    token = server.token(user_id)
    item = server.publish(to={"users": [user_id]}, type="t", title="once")["id"]
    sentinel = server.publish(to={"users": [user_id]}, type="t", title="sentinel")["id"]
    assert ack(server, token, [item, item]).status_code == 204
    first = wait_for_receipt(server, user_id, item) and stamps(server, user_id)[item]
    time.sleep(0.05)
    assert ack(server, token, [item]).status_code == 204
    assert ack(server, token, [sentinel]).status_code == 204
    wait_for_receipt(server, user_id, sentinel)  # written in the same batch as the repeat, or after it
    assert stamps(server, user_id)[item] == first


def test_ids_of_another_users_items_are_ignored(server: HeraldServer, user_id: str) -> None:
    other = user_id + "-other"
    theirs = server.publish(to={"users": [other]}, type="t", title="not yours")["id"]
    mine = server.publish(to={"users": [user_id]}, type="t", title="yours")["id"]
    token = server.token(user_id)
    # The same answer as for one's own ids: an ack tells nothing about other inboxes.
    for ids in ([theirs], ["01J0000000000000000NOSUCHID"], [mine]):
        response = ack(server, token, ids)
        assert (response.status_code, response.content) == (204, b"")
    wait_for_receipt(server, user_id, mine)
    assert stamps(server, other) == {theirs: None}


def test_a_group_update_needs_a_receipt_of_its_own(server: HeraldServer, user_id: str) -> None:
    token = server.token(user_id)
    item = server.publish(to={"users": [user_id]}, type="like", title="Anna liked", groupKey="post:1")["id"]
    assert ack(server, token, [item]).status_code == 204
    wait_for_receipt(server, user_id, item)
    again = server.publish(to={"users": [user_id]}, type="like", title="Ben liked", groupKey="post:1")
    assert stamps(server, user_id) == {item: None}  # the same item, now showing the newer notification
    assert again["id"] != item
    assert ack(server, token, [item]).status_code == 204
    assert wait_for_receipt(server, user_id, item) == {item: True}


def test_acks_are_counted_by_transport(server: HeraldServer, user_id: str) -> None:
    token = server.token(user_id)
    items = [server.publish(to={"users": [user_id]}, type="t", title=f"n{i}")["id"] for i in range(3)]
    before = metric(server, 'herald_delivery_acks_total{transport="http"}')
    assert ack(server, token, items).status_code == 204
    assert metric(server, 'herald_delivery_acks_total{transport="http"}') == before + 3


@pytest.mark.parametrize(("body", "message"), [
    ({"ids": []}, "field 'ids'"),
    ({"ids": ["x"] * 501}, "field 'ids'"),
    ({"ids": ["x" * 65]}, "field 'ids"),
    ({"ids": [""]}, "field 'ids"),
    ({"ids": "01J0000000000000000000000A"}, "field 'ids'"),
    ({"ids": [1]}, "field 'ids"),
    ({"ids": ["a"], "extra": 1}, "extra"),
    ({}, "ids"),
])
def test_bad_ack_bodies_are_refused(server: HeraldServer, user_id: str, body: object, message: str) -> None:
    response = httpx.post(server.url + "/api/notifications/ack", json=body,
                          headers={"Authorization": f"Bearer {server.token(user_id)}"})
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["error"] == "invalid_request" and message in error["message"], error


def test_ack_needs_credentials_and_a_json_body(server: HeraldServer, user_id: str) -> None:
    no_auth = httpx.post(server.url + "/api/notifications/ack", json={"ids": ["a"]})
    assert (no_auth.status_code, no_auth.json()["error"]) == (401, "unauthorized")
    headers = {"Authorization": f"Bearer {server.token(user_id)}"}
    form = httpx.post(server.url + "/api/notifications/ack", data={"ids": "a"}, headers=headers)
    assert (form.status_code, form.json()["error"]) == (415, "unsupported_media_type")
    broken = httpx.post(server.url + "/api/notifications/ack", content=b'{"ids": [', headers={
        **headers, "Content-Type": "application/json"})
    assert broken.json() == {"error": "invalid_json", "message": "The request body is not valid JSON."}
    huge = httpx.post(server.url + "/api/notifications/ack", content=b'{"ids": ["' + b"a" * 70_000 + b'"]}',
                      headers={**headers, "Content-Type": "application/json"})
    assert (huge.status_code, huge.json()["error"]) == (413, "payload_too_large")


async def test_a_bad_websocket_ack_is_answered_and_the_connection_stays(server: HeraldServer, user_id: str) -> None:
    token = server.token(user_id)
    item = server.publish(to={"users": [user_id]}, type="t", title="over ws")["id"]
    url = server.url.replace("http://", "ws://") + "/api/notifications/ws"
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        await ws.send(json.dumps({"type": "resume", "cursor": "0"}))
        assert json.loads(await ws.recv())["type"] == "ready"
        assert json.loads(await ws.recv())["notification"]["id"] == item
        await ws.send(json.dumps({"type": "ack", "ids": ["x"] * 501}))
        error = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert error["type"] == "error" and error["error"] == "invalid_request"
        await ws.send(json.dumps({"type": "ack", "ids": [item]}))
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "pong"}
        assert await asyncio.to_thread(wait_for_receipt, server, user_id, item) == {item: True}


