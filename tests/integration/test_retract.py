"""Retract by id or replace key: gone from every inbox, live and on replay, on both databases and every transport."""
from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.herald_server import HeraldServer
from tests.transports import TRANSPORTS, subscribe


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def inbox(server: HeraldServer, token: str, **params: str) -> dict:
    response = httpx.get(f"{server.url}/api/notifications", params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


def retract_id(server: HeraldServer, notification_id: str) -> httpx.Response:
    return httpx.delete(f"{server.url}/api/notifications/{notification_id}", headers=server.headers())


def retract_key(server: HeraldServer, body: object) -> httpx.Response:
    return httpx.post(f"{server.url}/api/retract", json=body, headers=server.headers())


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_retract_removes_the_item_live_and_never_replays_it(server: HeraldServer, user_id: str,
                                                                    transport: str) -> None:
    token = server.token(user_id)
    keep = server.publish(to={"users": [user_id]}, type="t", title="keep")["id"]
    doomed = server.publish(to={"users": [user_id]}, type="t", title="sent by mistake")["id"]
    async with subscribe(transport, server.url, token) as tab:
        ready = await tab.until("ready")
        answer = retract_id(server, doomed)
        assert answer.status_code == 200 and answer.json() == {"removed": 1}
        change = await tab.until("retract")
    assert change.data["ids"] == [doomed] and change.data["unreadCount"] == 1 and change.data["reason"] == "retracted"
    assert int(change.cursor) == int(ready.cursor) + 1
    # Away and back from the start: the item never comes back, the retract replays.
    async with subscribe(transport, server.url, token, cursor="0") as tab:
        seen = [(await tab.until("notification")).data["id"]]
        change = await tab.until("retract")
        with pytest.raises(asyncio.TimeoutError):
            seen.append((await tab.until("notification", timeout=0.5)).data["id"])
    assert seen == [keep] and change.data["ids"] == [doomed]
    page = inbox(server, token)
    assert [item["id"] for item in page["items"]] == [keep] and page["unreadCount"] == 1
    since = inbox(server, token, since="0")
    assert [item["id"] for item in since["items"]] == [keep]
    assert [c["type"] for c in since["changes"]] == ["retract"]


def test_retract_by_id_reaches_every_recipient(server: HeraldServer, user_id: str) -> None:
    users = [user_id, user_id + "-b", user_id + "-c"]
    sent = server.publish(to={"users": users}, type="t", title="to three")["id"]
    assert retract_id(server, sent).json() == {"removed": 3}
    for user in users:
        assert inbox(server, server.token(user))["items"] == []
    again = retract_id(server, sent)
    assert again.status_code == 404
    assert again.json() == {"error": "not_found", "message": "No such notification, or it was already retracted."}


def test_retract_by_replace_key_takes_the_target_shape(server: HeraldServer, user_id: str) -> None:
    other = user_id + "-b"
    httpx.put(f"{server.url}/api/groups/g-{user_id}", json={"users": [user_id, other]}, headers=server.headers())
    server.publish(to={"users": [user_id, other]}, type="t", title="status", replaceKey="order:7")
    server.publish(to={"users": [user_id]}, type="t", title="another order", replaceKey="order:8")
    answer = retract_key(server, {"replaceKey": "order:7", "to": {"users": [user_id]}})
    assert answer.status_code == 200 and answer.json() == {"removed": 1}
    assert [i["title"] for i in inbox(server, server.token(user_id))["items"]] == ["another order"]
    assert [i["title"] for i in inbox(server, server.token(other))["items"]] == ["status"], "not targeted"
    assert retract_key(server, {"replaceKey": "order:7", "to": {"group": f"g-{user_id}"}}).json() == {"removed": 1}
    assert inbox(server, server.token(other))["items"] == []


def test_unread_counts_follow_a_retract(server: HeraldServer, user_id: str) -> None:
    token = server.token(user_id)
    read = server.publish(to={"users": [user_id]}, type="t", title="read")["id"]
    unread = server.publish(to={"users": [user_id]}, type="t", title="unread")["id"]
    httpx.post(f"{server.url}/api/notifications/{read}/read", headers=bearer(token))
    assert inbox(server, token)["unreadCount"] == 1
    retract_id(server, unread)
    assert inbox(server, token)["unreadCount"] == 0


def test_unknown_replace_key_and_bad_bodies_are_4xx_with_the_contract_body(server: HeraldServer, user_id: str) -> None:
    unknown = retract_key(server, {"replaceKey": "never-sent", "to": {"users": [user_id]}})
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "not_found",
                              "message": "No inbox of that target has an item with this replace key."}
    assert retract_id(server, "01NOSUCHNOTIFICATION00000").status_code == 404
    assert retract_id(server, "a%00b").json()["error"] == "not_found"
    for body in ({"replaceKey": "", "to": {"users": [user_id]}}, {"replaceKey": "a\nb", "to": {"users": [user_id]}},
                 {"replaceKey": "k", "to": {}}, {"replaceKey": "k", "to": {"users": [user_id], "all": True}},
                 {"replaceKey": "k", "to": {"channel": "c"}}, {"replaceKey": "k"}, {"to": {"users": [user_id]}},
                 {"replaceKey": "k", "to": {"users": [user_id]}, "extra": 1}, {"replaceKey": 5, "to": {"all": True}}):
        answer = retract_key(server, body)
        assert answer.status_code == 400, (body, answer.text)
        assert set(answer.json()) == {"error", "message"} and answer.json()["error"] == "invalid_request"
    group = retract_key(server, {"replaceKey": "k", "to": {"group": "no-such-group"}})
    assert group.status_code == 404 and group.json()["error"] == "not_found"


def test_retracting_needs_a_producer_key(server: HeraldServer, user_id: str) -> None:
    sent = server.publish(to={"users": [user_id]}, type="t", title="x")["id"]
    subscriber = bearer(server.token(user_id))
    assert httpx.delete(f"{server.url}/api/notifications/{sent}", headers=subscriber).status_code == 401
    answer = httpx.post(f"{server.url}/api/retract", headers=subscriber,
                        json={"replaceKey": "k", "to": {"users": [user_id]}})
    assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
    assert len(inbox(server, server.token(user_id))["items"]) == 1


def test_retracts_count_against_the_key_s_publish_rate_and_a_refused_one_removes_nothing(
        fresh_server: HeraldServer, user_id: str) -> None:
    fresh_server.env.update(HERALD_PUBLISH_RATE_PER_SECOND="0.05", HERALD_PUBLISH_BURST="3")
    fresh_server.start()
    first = fresh_server.publish(to={"users": [user_id]}, type="t", title="one", replaceKey=f"k1:{user_id}")["id"]
    fresh_server.publish(to={"users": [user_id]}, type="t", title="two", replaceKey=f"k2:{user_id}")
    headers = fresh_server.headers()
    assert httpx.delete(f"{fresh_server.url}/api/notifications/{first}", headers=headers).json() == {"removed": 1}
    # Three writes so far (two publishes, one retract): the burst is spent.
    refused = httpx.post(fresh_server.url + "/api/retract", headers=headers,
                         json={"replaceKey": f"k2:{user_id}", "to": {"users": [user_id]}})
    assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 20
    listing = httpx.get(fresh_server.url + "/api/notifications",
                        headers={"Authorization": f"Bearer {fresh_server.token(user_id)}"}).json()
    assert [i["title"] for i in listing["items"]] == ["two"]  # nothing was removed by the refused one
