"""Replace by key and silent updates, on both databases and every transport."""
from __future__ import annotations

import httpx
import pytest

from tests.herald_server import HeraldServer
from tests.transports import TRANSPORTS, subscribe


def inbox(server: HeraldServer, token: str, **params: str) -> dict:
    response = httpx.get(f"{server.url}/api/notifications", params=params, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json()


def status(server: HeraldServer, user_id: str, title: str, **extra: object) -> str:
    return server.publish(to={"users": [user_id]}, type="order.status", title=title, replaceKey="order:1042",
                          data={"status": title}, **extra)["id"]


def test_three_statuses_of_one_order_leave_one_item_with_the_last(server: HeraldServer, user_id: str) -> None:
    token = server.token(user_id)
    first = status(server, user_id, "confirmed")
    server.publish(to={"users": [user_id]}, type="other", title="something else")
    status(server, user_id, "shipped", priority="high", url="/orders/1042")
    status(server, user_id, "delivered", body="at the door")
    page = inbox(server, token)
    assert [item["title"] for item in page["items"]] == ["delivered", "something else"], "moved to the top"
    top = page["items"][0]
    assert top["id"] == first, "the item keeps the id of the first status"
    assert top["replaceKey"] == "order:1042" and top["data"] == {"status": "delivered"}
    assert top["body"] == "at the door" and top["priority"] == "medium" and top["url"] is None
    assert page["unreadCount"] == 2
    assert server.sql("SELECT count(*) FROM inbox_items WHERE user_id = :u", u=user_id) == [(2,)]


def test_a_replaced_item_is_unread_again_unless_the_update_is_silent(server: HeraldServer, user_id: str) -> None:
    token = server.token(user_id)
    item = status(server, user_id, "confirmed")
    httpx.post(f"{server.url}/api/notifications/{item}/read", headers={"Authorization": f"Bearer {token}"})
    status(server, user_id, "progress 50%", silent=True)
    page = inbox(server, token)
    assert page["items"][0]["read"] is True and page["items"][0]["silent"] is True and page["unreadCount"] == 0
    status(server, user_id, "shipped")
    page = inbox(server, token)
    assert page["items"][0]["read"] is False and "silent" not in page["items"][0] and page["unreadCount"] == 1


def test_the_key_is_per_recipient(server: HeraldServer, user_id: str) -> None:
    other = user_id + "-b"
    server.publish(to={"users": [user_id]}, type="t", title="mine", replaceKey="k")
    server.publish(to={"users": [user_id, other]}, type="t", title="both", replaceKey="k")
    mine, theirs = inbox(server, server.token(user_id))["items"], inbox(server, server.token(other))["items"]
    assert [i["title"] for i in mine] == ["both"] and [i["title"] for i in theirs] == ["both"]
    assert mine[0]["id"] != theirs[0]["id"], "each user's own item was updated, or created"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_every_open_connection_gets_the_update_with_the_same_id(server: HeraldServer, user_id: str,
                                                                      transport: str) -> None:
    token = server.token(user_id)
    first = status(server, user_id, "confirmed")
    async with subscribe(transport, server.url, token) as tab:
        ready = await tab.until("ready")
        status(server, user_id, "shipped")
        update = await tab.until("notification")
    assert update.data["id"] == first and update.data["title"] == "shipped"
    assert int(update.cursor) == int(ready.cursor) + 1, "the update took the next sequence number"
    # A connection that was away replays the update, not the old version.
    async with subscribe(transport, server.url, token, cursor="0") as tab:
        replayed = await tab.until("notification")
    assert replayed.data["id"] == first and replayed.data["title"] == "shipped"


@pytest.mark.parametrize("transport", ["sse", "websocket"])
async def test_a_silent_update_says_so_live(server: HeraldServer, user_id: str, transport: str) -> None:
    token = server.token(user_id)
    async with subscribe(transport, server.url, token) as tab:
        await tab.until("ready")
        status(server, user_id, "progress 10%", silent=True)
        event = await tab.until("notification")
    assert event.data["silent"] is True


def test_a_silent_update_queues_no_push(server: HeraldServer, user_id: str) -> None:
    headers = {"Authorization": f"Bearer {server.token(user_id)}"}
    # A subscription on a loopback endpoint (development mode allows it): nothing listens, nothing needs to.
    answer = httpx.post(server.url + "/api/push/subscriptions", headers=headers, json={
        "endpoint": "http://127.0.0.1:9/push/silent-" + user_id,
        "keys": {"p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
                 "auth": "tBHItJI5svbpez7KI4CCXg"}})
    assert answer.status_code == 201, answer.text
    status(server, user_id, "quietly", silent=True, priority="urgent")
    status(server, user_id, "loudly", priority="urgent")
    rows = server.sql("SELECT count(*) FROM push_jobs WHERE user_id = :u", u=user_id)
    assert rows == [(1,)], "only the update that was not silent queued a push"


BAD_KEYS = [("", "must be a string of 1 to 200"), ("x" * 201, "must be a string of 1 to 200"),
            (42, None), ("a\nb", "control characters"), ("a\x7fb", "control characters"), ("a\x00", "control")]


@pytest.mark.parametrize(("key", "message"), BAD_KEYS)
def test_bad_replace_keys_are_a_400_with_the_contract_body(server: HeraldServer, user_id: str, key: object,
                                                           message: str | None) -> None:
    response = httpx.post(server.url + "/api/publish", headers=server.headers(), json={
        "to": {"users": [user_id]}, "type": "t", "title": "x", "replaceKey": key})
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error", "message"} and body["error"] == "invalid_request"
    if message:
        assert message in body["message"]


def test_replace_key_and_group_key_together_are_refused(server: HeraldServer, user_id: str) -> None:
    response = httpx.post(server.url + "/api/publish", headers=server.headers(), json={
        "to": {"users": [user_id]}, "type": "t", "title": "x", "replaceKey": "k", "groupKey": "g"})
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "message": 'Give "replaceKey" or "groupKey", not both.'}


def test_a_live_event_takes_no_replace_key(server: HeraldServer) -> None:
    response = httpx.post(server.url + "/api/publish", headers=server.headers(), json={
        "to": {"channel": "c"}, "persist": False, "type": "t", "title": "x", "replaceKey": "k"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_openapi_shows_the_new_fields(server: HeraldServer) -> None:
    document = httpx.get(server.url + "/schema/openapi.json").json()
    publish = document["components"]["schemas"]["PublishRequest"]["properties"]
    assert {"replaceKey", "silent", "expiresAt", "ttlSeconds"} <= set(publish)
    assert "delete" in document["paths"]["/api/notifications/{notification_id}"]
    assert "post" in document["paths"]["/api/retract"]
