"""Triage state (archive, unread, snooze, seen, actions) syncs live and resumes on every transport, on both databases."""
from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.herald_server import HeraldServer
from tests.transports import TRANSPORTS, subscribe


def _headers(server: HeraldServer, user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token(user_id)}"}


def _titles(server: HeraldServer, user_id: str, **params: object) -> list[str]:
    page = httpx.get(f"{server.url}/api/notifications", params=params, headers=_headers(server, user_id))
    assert page.status_code == 200, page.text
    return [item["title"] for item in page.json()["items"]]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_archive_made_while_away_reaches_the_resuming_connection(server: HeraldServer, user_id: str,
                                                                         transport: str) -> None:
    item = server.publish(to={"users": [user_id]}, type="t", title="archive me")["id"]
    async with subscribe(transport, server.url, server.token(user_id)) as tab:
        cursor = (await tab.until("ready")).cursor
    answer = httpx.post(f"{server.url}/api/notifications/{item}/archive", headers=_headers(server, user_id))
    assert answer.json() == {"unreadCount": 0}, "an archived item leaves the badge"
    async with subscribe(transport, server.url, server.token(user_id), cursor=cursor) as tab:
        change = await tab.until("triage")
    assert change.data["ids"] == [item] and change.data["archived"] is True and change.data["unreadCount"] == 0
    assert int(change.cursor) == int(cursor) + 1


async def test_mark_unread_reaches_a_live_connection(server: HeraldServer, user_id: str) -> None:
    item = server.publish(to={"users": [user_id]}, type="t", title="read then unread")["id"]
    headers = _headers(server, user_id)
    httpx.post(f"{server.url}/api/notifications/{item}/read", headers=headers)
    async with subscribe("websocket", server.url, server.token(user_id)) as tab:
        await tab.until("ready")
        answer = httpx.post(f"{server.url}/api/notifications/{item}/unread", headers=headers)
        change = await tab.until("triage")
    assert answer.json() == {"unreadCount": 1}
    assert {k: v for k, v in change.data.items() if k != "type"} == {
        "cursor": change.cursor, "ids": [item], "read": False, "unreadCount": 1}


def test_the_list_filters_by_type_pattern_archive_and_read(server: HeraldServer, user_id: str) -> None:
    headers = _headers(server, user_id)
    shipped = server.publish(to={"users": [user_id]}, type="order.shipped", title="shipped")["id"]
    server.publish(to={"users": [user_id]}, type="order.paid", title="paid")
    server.publish(to={"users": [user_id]}, type="orders_x", title="not an order")
    server.publish(to={"users": [user_id]}, type="comment", title="comment")
    assert _titles(server, user_id, type="order.*") == ["paid", "shipped"]
    assert _titles(server, user_id, type=["order.paid", "comment"]) == ["comment", "paid"]
    httpx.post(f"{server.url}/api/notifications/{shipped}/archive", headers=headers)
    assert _titles(server, user_id, type="order.*") == ["paid"], "the archive is its own view"
    assert _titles(server, user_id, archived="true") == ["shipped"]
    httpx.post(f"{server.url}/api/notifications/read-all", headers=headers)
    httpx.post(f"{server.url}/api/notifications/{shipped}/unarchive", headers=headers)
    httpx.post(f"{server.url}/api/notifications/{shipped}/unread", headers=headers)
    assert _titles(server, user_id, read="false") == ["shipped"]


def test_counts_per_tab_follow_every_change(server: HeraldServer, user_id: str) -> None:
    headers = _headers(server, user_id)
    tabs = json.dumps([{"label": "Orders", "types": ["order.*"]}, {"label": "Team", "categories": ["team"]}])

    def counts() -> dict[str, object]:
        answer = httpx.get(f"{server.url}/api/notifications/counts", params={"tabs": tabs}, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()

    order = server.publish(to={"users": [user_id]}, type="order.paid", title="paid")["id"]
    server.publish(to={"users": [user_id]}, type="order.shipped", title="shipped")
    mention = server.publish(to={"users": [user_id]}, type="mention", title="hi", category="team")["id"]
    assert counts() == {"unread": 3, "unseen": 3, "tabs": [{"label": "Orders", "unread": 2, "unseen": 2},
                                                          {"label": "Team", "unread": 1, "unseen": 1}]}
    triage = httpx.post(f"{server.url}/api/notifications/triage", headers=headers,
                        json={"ids": [order, mention], "set": {"seen": True}})
    assert triage.status_code == 200, triage.text
    assert counts()["unseen"] == 1 and counts()["unread"] == 3
    httpx.post(f"{server.url}/api/notifications/{order}/archive", headers=headers)
    assert counts()["tabs"][0] == {"label": "Orders", "unread": 1, "unseen": 1}
    # Without tabs: one per category of the items in the list.
    by_category = httpx.get(f"{server.url}/api/notifications/counts", headers=headers).json()
    assert by_category["tabs"] == [{"label": "team", "unread": 1, "unseen": 0}]


def test_bulk_archive_all_read_within_a_filter(server: HeraldServer, user_id: str) -> None:
    headers = _headers(server, user_id)
    for title, kind in (("a", "order.paid"), ("b", "order.paid"), ("c", "comment")):
        server.publish(to={"users": [user_id]}, type=kind, title=title)
    httpx.post(f"{server.url}/api/notifications/read-all", headers=headers)
    server.publish(to={"users": [user_id]}, type="order.paid", title="unread order")
    answer = httpx.post(f"{server.url}/api/notifications/triage", headers=headers, json={
        "all": True, "within": {"type": ["order.*"], "read": True}, "set": {"archived": True}})
    assert answer.status_code == 200, answer.text
    assert _titles(server, user_id) == ["unread order", "c"]
    httpx.post(f"{server.url}/api/notifications/triage", headers=headers, json={"all": True, "set": {"read": True}})
    assert httpx.get(f"{server.url}/api/notifications", headers=headers).json()["unreadCount"] == 0


async def test_a_snoozed_item_leaves_the_list_and_returns_live_as_new(server: HeraldServer, user_id: str) -> None:
    headers = _headers(server, user_id)
    item = server.publish(to={"users": [user_id]}, type="t", title="later")["id"]
    httpx.post(f"{server.url}/api/notifications/{item}/read", headers=headers)
    async with subscribe("sse", server.url, server.token(user_id)) as tab:
        await tab.until("ready")
        until = int(time.time() * 1000) + 1500
        answer = httpx.post(f"{server.url}/api/notifications/{item}/snooze", headers=headers, json={"until": until})
        assert answer.status_code == 200, answer.text
        assert (await tab.until("triage")).data["snoozedUntil"] == until
        assert _titles(server, user_id) == []
        back = await tab.until("notification", timeout=5)
    assert back.data["id"] == item and back.data["read"] is False and "snoozedUntil" not in back.data
    assert _titles(server, user_id) == ["later"]
    assert httpx.get(f"{server.url}/api/notifications", headers=headers).json()["unreadCount"] == 1


async def test_an_action_is_recorded_read_and_broadcast(server: HeraldServer, user_id: str) -> None:
    headers = _headers(server, user_id)
    item = server.publish(to={"users": [user_id]}, type="invite", title="join?", actions=[
        {"id": "accept", "label": "Accept", "style": "primary"}, {"id": "decline", "label": "Decline"}])["id"]
    async with subscribe("websocket", server.url, server.token(user_id)) as tab:
        await tab.until("ready")
        answer = httpx.post(f"{server.url}/api/notifications/{item}/actions/accept", headers=headers)
        change = await tab.until("triage")
    assert answer.json() == {"unreadCount": 0}
    assert change.data["action"] == "accept" and change.data["read"] is True
    (listed,) = httpx.get(f"{server.url}/api/notifications", headers=headers).json()["items"]
    assert listed["action"] == "accept" and listed["read"] is True
    assert [a["id"] for a in listed["actions"]] == ["accept", "decline"]
    assert httpx.post(f"{server.url}/api/notifications/{item}/actions/nope", headers=headers).status_code == 404


def test_a_replace_resets_triage(server: HeraldServer, user_id: str) -> None:
    headers = _headers(server, user_id)
    item = server.publish(to={"users": [user_id]}, type="t", title="v1", replaceKey="k")["id"]
    httpx.post(f"{server.url}/api/notifications/{item}/archive", headers=headers)
    server.publish(to={"users": [user_id]}, type="t", title="v2", replaceKey="k")
    (listed,) = httpx.get(f"{server.url}/api/notifications", headers=headers).json()["items"]
    assert listed["title"] == "v2" and "archived" not in listed and listed["read"] is False


def test_bad_triage_input_is_a_clear_4xx_and_others_items_are_unreachable(server: HeraldServer, user_id: str) -> None:
    headers = _headers(server, user_id)
    mine = server.publish(to={"users": [user_id]}, type="t", title="mine")["id"]
    theirs = server.publish(to={"users": [user_id + "-other"]}, type="t", title="theirs")["id"]
    for path in ("archive", "unread", "unarchive", "actions/x"):
        answer = httpx.post(f"{server.url}/api/notifications/{theirs}/{path}", headers=headers)
        assert answer.status_code == 404 and answer.json()["error"] == "not_found", path
    bad = [("POST", "/api/notifications/triage", {"ids": [mine], "set": {}}),
           ("POST", "/api/notifications/triage", {"set": {"read": True}}),
           ("POST", "/api/notifications/triage", {"ids": [mine], "set": {"snoozedUntil": 5}}),
           ("POST", f"/api/notifications/{mine}/snooze", {"until": "soon"}),
           ("GET", "/api/notifications/counts?tabs=[{", None),
           ("GET", "/api/notifications?type=a**", None)]
    for method, path, body in bad:
        answer = httpx.request(method, f"{server.url}{path}", headers=headers, json=body)
        assert answer.status_code == 400, (path, body, answer.text)
        assert "error" in answer.json()
    too_many = [{"id": f"a{i}", "label": "x"} for i in range(4)]
    for actions in (too_many, [{"id": "a", "label": "x", "style": "loud"}], [{"id": "a", "label": "x"}] * 2):
        answer = httpx.post(f"{server.url}/api/publish", headers={"Authorization": f"Bearer {server.api_key}"},
                            json={"to": {"users": [user_id]}, "type": "t", "title": "x", "actions": actions})
        assert answer.status_code in (400, 422), answer.text
        assert "error" in answer.json()


def test_a_new_member_brings_an_archived_group_back(server: HeraldServer, user_id: str) -> None:
    headers = _headers(server, user_id)
    item = server.publish(to={"users": [user_id]}, type="like", title="likes", groupKey="post:1", actor="ann")["id"]
    httpx.post(f"{server.url}/api/notifications/{item}/archive", headers=headers)
    assert _titles(server, user_id) == []
    server.publish(to={"users": [user_id]}, type="like", title="likes", groupKey="post:1", actor="bob")
    (listed,) = httpx.get(f"{server.url}/api/notifications", headers=headers).json()["items"]
    assert listed["id"] == item and listed["groupCount"] == 2 and "archived" not in listed
