"""The inbox list, paging by cursor, and read state synced across connections."""
from __future__ import annotations

import httpx
import pytest

from tests.herald_server import HeraldServer
from tests.sse_client import open_stream


def auth(server: HeraldServer, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token(user)}"}


def test_newest_page_then_before_pages_back_without_overlap(server: HeraldServer, user_id: str) -> None:
    ids = [server.publish(to={"users": [user_id]}, type="t", title=f"n{i}")["id"] for i in range(7)]
    headers = auth(server, user_id)
    first = httpx.get(server.url + "/api/notifications", params={"limit": 3}, headers=headers).json()
    assert [i["id"] for i in first["items"]] == ids[::-1][:3]
    assert (first["cursor"], first["unreadCount"]) == ("7", 7)
    second = httpx.get(server.url + "/api/notifications", params={"limit": 3, "before": first["nextBefore"]}, headers=headers).json()
    third = httpx.get(server.url + "/api/notifications", params={"limit": 3, "before": second["nextBefore"]}, headers=headers).json()
    assert [i["id"] for i in second["items"] + third["items"]] == ids[::-1][3:]
    assert third["nextBefore"] is None


def test_since_returns_what_came_after_oldest_first_for_catch_up(server: HeraldServer, user_id: str) -> None:
    ids = [server.publish(to={"users": [user_id]}, type="t", title=f"n{i}")["id"] for i in range(5)]
    headers = auth(server, user_id)
    page = httpx.get(server.url + "/api/notifications", params={"since": "2", "limit": 2}, headers=headers).json()
    assert [i["id"] for i in page["items"]] == ids[2:4]
    rest = httpx.get(server.url + "/api/notifications", params={"since": page["cursor"]}, headers=headers).json()
    assert [i["id"] for i in rest["items"]] == ids[4:]
    assert rest["cursor"] == "5"
    empty = httpx.get(server.url + "/api/notifications", params={"since": "5"}, headers=headers).json()
    assert (empty["items"], empty["cursor"]) == ([], "5")


@pytest.mark.parametrize("params", [{"since": "abc"}, {"before": "-1"}, {"since": "1e3"}, {"since": "99999999999999999999"},
                                    {"since": "9"}, {"since": "1", "before": "2"}, {"limit": "0"}, {"limit": "201"},
                                    {"limit": "x"}])
def test_bad_or_foreign_cursors_and_limits_are_400(server: HeraldServer, user_id: str, params: dict[str, str]) -> None:
    server.publish(to={"users": [user_id]}, type="t", title="one")
    response = httpx.get(server.url + "/api/notifications", params=params, headers=auth(server, user_id))
    assert response.status_code == 400, response.text
    assert response.json()["error"] in ("invalid_cursor", "invalid_request")


def test_cursor_from_another_users_longer_inbox_is_refused(server: HeraldServer, user_id: str) -> None:
    other = user_id + "-busy"
    for i in range(3):
        server.publish(to={"users": [other]}, type="t", title=f"{i}")
    foreign = httpx.get(server.url + "/api/notifications", headers=auth(server, other)).json()["cursor"]
    response = httpx.get(server.url + "/api/notifications", params={"since": foreign}, headers=auth(server, user_id))
    assert (response.status_code, response.json()["error"]) == (400, "invalid_cursor")


def test_stream_with_a_malformed_cursor_is_400(server: HeraldServer, user_id: str) -> None:
    for headers, query in (({"Last-Event-ID": "abc"}, ""), ({}, "?lastEventId=-5"), ({"Last-Event-ID": "1\r"}, "")):
        try:
            response = httpx.get(server.url + "/api/notifications/stream" + query, headers={**auth(server, user_id), **headers})
        except httpx.LocalProtocolError:
            continue  # the client refused to send it; nothing reached the server
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_cursor"


async def test_mark_one_read_updates_count_and_syncs_other_connections(server: HeraldServer, user_id: str) -> None:
    token = server.token(user_id)
    first = server.publish(to={"users": [user_id]}, type="t", title="a")["id"]
    server.publish(to={"users": [user_id]}, type="t", title="b")
    async with open_stream(server.url, token) as tab1, open_stream(server.url, token) as tab2:
        await tab1.until("ready")
        await tab2.until("ready")
        response = httpx.post(f"{server.url}/api/notifications/{first}/read", headers={"Authorization": f"Bearer {token}"})
        assert response.json() == {"unreadCount": 1}
        for tab in (tab1, tab2):
            assert (await tab.until("read")).json() == {"ids": [first], "unreadCount": 1}
    items = httpx.get(server.url + "/api/notifications", headers={"Authorization": f"Bearer {token}"}).json()["items"]
    assert {i["id"]: i["read"] for i in items}[first] is True


async def test_mark_all_read_syncs_and_zeroes_the_badge(server: HeraldServer, user_id: str) -> None:
    token = server.token(user_id)
    for i in range(3):
        server.publish(to={"users": [user_id]}, type="t", title=f"{i}")
    async with open_stream(server.url, token) as other_device:
        assert (await other_device.until("ready")).json() == {"unreadCount": 3}
        response = httpx.post(server.url + "/api/notifications/read-all", headers={"Authorization": f"Bearer {token}"})
        assert response.json() == {"unreadCount": 0}
        assert (await other_device.until("read")).json() == {"all": True, "unreadCount": 0}


def test_reading_another_users_item_is_404_and_changes_nothing(server: HeraldServer, user_id: str) -> None:
    victim = user_id + "-victim"
    theirs = server.publish(to={"users": [victim]}, type="t", title="private")["id"]
    response = httpx.post(f"{server.url}/api/notifications/{theirs}/read", headers=auth(server, user_id))
    assert (response.status_code, response.json()["error"]) == (404, "not_found")
    assert httpx.get(server.url + "/api/notifications", headers=auth(server, victim)).json()["unreadCount"] == 1
