"""Sent, delivered and read per notification, counted from the inbox items, as the admin shows them."""
from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from tests.admin_client import AdminClient
from tests.eventually import eventually
from tests.herald_server import HeraldServer
from tests.transports import TRANSPORTS, subscribe


def counts(admin: AdminClient, notification_id: str) -> dict[str, int]:
    fragment = admin.get(f"/admin/notifications/{notification_id}/delivery").text
    return {key: int(re.search(rf'data-k="{key}">(\d+)<', fragment).group(1)) for key in ("sent", "delivered", "read")}


def row(admin: AdminClient, notification_id: str) -> list[int]:
    found = re.search(rf'<tr data-id="{notification_id}">(.*?)</tr>', admin.get("/admin/notifications/rows").text, re.S)
    assert found
    return [int(n) for n in re.findall(r'class="num">(\d+)<', found.group(1))]


def test_receipts_and_reads_are_counted_per_notification_and_follow_a_grouped_item(
        admin: AdminClient, server: HeraldServer, user_id: str) -> None:
    anna, ben = user_id, user_id + "-ben"
    auth = {u: {"Authorization": f"Bearer {server.token(u)}"} for u in (anna, ben)}
    first = server.publish(to={"users": [anna, ben]}, type="like", title="Liked", groupKey=f"post:{user_id}")["id"]
    assert counts(admin, first) == {"sent": 2, "delivered": 0, "read": 0}

    assert httpx.post(server.url + "/api/notifications/ack", json={"ids": [first]}, headers=auth[anna]).status_code == 204
    assert eventually(lambda: counts(admin, first)["delivered"] == 1)
    assert counts(admin, first) == {"sent": 2, "delivered": 1, "read": 0}
    # Read without a receipt (say, from a system notification): reading proves it arrived.
    assert httpx.post(f"{server.url}/api/notifications/{first}/read", headers=auth[ben]).status_code == 200
    assert counts(admin, first) == {"sent": 2, "delivered": 2, "read": 1}

    # Anna's item is still unread, so a second like groups into it: the item now counts for the second
    # notification, and that version has reached nobody yet.
    second = server.publish(to={"users": [anna]}, type="like", title="Liked again", groupKey=f"post:{user_id}")["id"]
    assert counts(admin, first) == {"sent": 1, "delivered": 1, "read": 1}
    assert counts(admin, second) == {"sent": 1, "delivered": 0, "read": 0}
    assert httpx.post(server.url + "/api/notifications/ack", json={"ids": [first]}, headers=auth[anna]).status_code == 204
    assert eventually(lambda: counts(admin, second)["delivered"] == 1)
    # The list shows the same: recipients, live, pushed, pending, sent, delivered, read.
    assert eventually(lambda: len(row(admin, second)) == 7)  # live and pushed are counted in the background
    assert row(admin, second) == [1, 0, 0, 0, 1, 1, 0]
    assert row(admin, first)[4:] == [1, 1, 1]


def test_a_notification_is_retracted_from_its_page_and_the_audit_log_says_who(
        admin: AdminClient, server: HeraldServer, user_id: str) -> None:
    sent = server.publish(to={"users": [user_id, user_id + "-b"]}, type="t", title="Wrong price",
                          replaceKey=f"price:{user_id}", ttlSeconds=3600)["id"]
    page = admin.get(f"/admin/notifications/{sent}").text
    assert "Retract from every inbox" in page and f"price:{user_id}" in page and "Expires" in page
    assert admin.post(f"/admin/notifications/{sent}/retract", csrf=False).status_code == 403, "CSRF is checked"
    answer = admin.post(f"/admin/notifications/{sent}/retract")
    assert answer.status_code in (200, 303), answer.text
    page = admin.get(f"/admin/notifications/{sent}").text
    assert re.search(r'class="lifecycle">retracted ', page) and "Retract from every inbox" not in page
    for user in (user_id, user_id + "-b"):
        listing = httpx.get(server.url + "/api/notifications", headers={"Authorization": f"Bearer {server.token(user)}"})
        assert listing.json()["items"] == []
    assert admin.post(f"/admin/notifications/{sent}/retract").status_code == 404
    assert "notification.retract" in admin.get("/admin/audit").text


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_correction_reaches_every_inbox_in_place_silently_and_resumes(
        admin: AdminClient, server: HeraldServer, user_id: str, transport: str) -> None:
    reader, other = user_id, user_id + "-b"
    auth = {u: {"Authorization": f"Bearer {server.token(u)}"} for u in (reader, other)}
    sent = server.publish(to={"users": [reader, other]}, type="offer", title="Shoes at 99 EUR", body="Today only",
                          url="/offers/1")["id"]
    assert httpx.post(f"{server.url}/api/notifications/{sent}/read", headers=auth[reader]).status_code == 200
    cursor = httpx.get(server.url + "/api/notifications", headers=auth[other]).json()["cursor"]

    async with subscribe(transport, server.url, server.token(reader)) as live:
        await live.until("ready")
        answer = await asyncio.to_thread(admin.post, f"/admin/notifications/{sent}/edit",
                                         {"title": "Shoes at 79 EUR", "body": "Today only, **all sizes**", "url": "/offers/2"})
        assert answer.status_code in (200, 303), answer.text
        event = await live.until("notification")
    assert (event.data["id"], event.data["title"], event.data["url"]) == (sent, "Shoes at 79 EUR", "/offers/2")
    assert event.data["silent"] is True and event.data["read"] is True  # no alert, and the read state stays

    # The other user was away: the correction replays after their cursor, same id, still unread.
    replay = httpx.get(server.url + "/api/notifications", params={"since": cursor}, headers=auth[other]).json()
    assert [(i["id"], i["title"], i["body"], i["read"]) for i in replay["items"]] == [
        (sent, "Shoes at 79 EUR", "Today only, **all sizes**", False)]
    assert [i["title"] for i in httpx.get(server.url + "/api/notifications", headers=auth[other]).json()["items"]] == [
        "Shoes at 79 EUR"]
    page = admin.get(f"/admin/notifications/{sent}").text
    assert "Shoes at 79 EUR" in page and "/offers/2" in page
    assert "notification.edit" in admin.get("/admin/audit").text


@pytest.mark.parametrize(("form", "why"), [
    ({"title": "", "body": "b"}, "an empty title"),
    ({"title": "x" * 201}, "a title over 200"),
    ({"title": "ok", "url": "javascript:alert(1)"}, "a script link"),
    ({"title": "ok", "body": "a\x00b"}, "a NUL"),
])
def test_a_bad_correction_is_refused_and_changes_nothing(
        admin: AdminClient, server: HeraldServer, user_id: str, form: dict, why: str) -> None:
    sent = server.publish(to={"users": [user_id]}, type="t", title="As sent", url="/a")["id"]
    answer = admin.post(f"/admin/notifications/{sent}/edit", form)
    assert answer.status_code == 400, why
    (item,) = httpx.get(server.url + "/api/notifications",
                        headers={"Authorization": f"Bearer {server.token(user_id)}"}).json()["items"]
    assert (item["title"], item["url"]) == ("As sent", "/a")


def test_a_correction_needs_the_csrf_token_and_a_notification_still_there(
        admin: AdminClient, server: HeraldServer, user_id: str) -> None:
    sent = server.publish(to={"users": [user_id]}, type="t", title="As sent")["id"]
    assert admin.post(f"/admin/notifications/{sent}/edit", {"title": "x"}, csrf=False).status_code == 403
    assert admin.post(f"/admin/notifications/{sent}/retract").status_code in (200, 303)
    assert admin.post(f"/admin/notifications/{sent}/edit", {"title": "too late"}).status_code == 404
    assert admin.post("/admin/notifications/01JUNKNOWN0000000000000000/edit", {"title": "x"}).status_code == 404
