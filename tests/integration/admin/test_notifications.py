"""Sent, delivered and read per notification, counted from the inbox items, as the admin shows them."""
from __future__ import annotations

import re

import httpx

from tests.admin_client import AdminClient
from tests.eventually import eventually
from tests.herald_server import HeraldServer


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
