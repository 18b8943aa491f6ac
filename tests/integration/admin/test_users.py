"""The support page of one user: each inbox item's state, live connections, all of it escaped."""
from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.admin_client import AdminClient, signed_in
from tests.eventually import eventually
from tests.herald_server import HeraldServer, RedisServer, create_postgres_database, drop_postgres_database

HOSTILE = '<script>alert("owned")</script><img src=x onerror=alert(1)>'


def item_row(page: str, item_id: str) -> dict[str, str]:
    found = re.search(rf'<tr data-item="{item_id}">(.*?)</tr>', page, re.S)
    assert found, f"item {item_id} not listed"
    return {k: v.strip() for k, v in re.findall(r'data-k="(\w+)">(.*?)</td>', found.group(1), re.S)}


def test_each_item_shows_sent_delivered_read_and_a_hostile_title_is_text(admin: AdminClient, server: HeraldServer,
                                                                        user_id: str) -> None:
    auth = {"Authorization": f"Bearer {server.token(user_id)}"}
    hostile = server.publish(to={"users": [user_id]}, type="order.status", title=HOSTILE)["id"]
    acked = server.publish(to={"users": [user_id]}, type="order.status", title="Order shipped")["id"]
    untouched = server.publish(to={"users": [user_id]}, type="order.status", title="Order delivered")["id"]
    assert httpx.post(server.url + "/api/notifications/ack", json={"ids": [acked]}, headers=auth).status_code == 204
    assert httpx.post(f"{server.url}/api/notifications/{hostile}/read", headers=auth).status_code == 200

    def page() -> str:
        response = admin.get("/admin/users", params={"user": user_id})
        assert response.status_code == 200
        return response.text

    assert eventually(lambda: "UTC" in item_row(page(), acked)["delivered"])  # receipts are written in the background
    text = page()
    assert item_row(text, acked)["read"] == "unread"
    assert item_row(text, hostile) == {**item_row(text, hostile), "delivered": "(read)", "read": "read"}
    assert item_row(text, untouched)["delivered"] == "not confirmed" and item_row(text, untouched)["read"] == "unread"
    assert "UTC" in item_row(text, untouched)["sent"]
    assert HOSTILE not in text and "<script>alert" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in text
    assert "2 unread" in text


def test_a_live_stream_is_listed_with_its_transport(admin: AdminClient, server: HeraldServer, user_id: str) -> None:
    headers = {"Authorization": f"Bearer {server.token(user_id)}"}
    server.publish(to={"users": [user_id]}, type="order.status", title="hello")
    with httpx.stream("GET", server.url + "/api/notifications/stream", headers=headers, timeout=30) as stream:
        assert stream.status_code == 200
        text = admin.get("/admin/users", params={"user": user_id}).text
        assert 'data-transport="sse"' in text and "Online now on 1 node" in text
    assert eventually(lambda: 'data-transport="sse"' not in admin.get("/admin/users", params={"user": user_id}).text)


def test_an_unknown_user_and_a_hostile_user_id_are_answered_plainly(admin: AdminClient) -> None:
    response = admin.get("/admin/users", params={"user": '"><script>x()</script>'})
    assert response.status_code == 200
    assert "<script>x()" not in response.text and "never delivered anything" in response.text
    assert admin.get("/admin/users").status_code == 200


def test_notification_pages_link_their_users_to_the_support_page(admin: AdminClient, server: HeraldServer,
                                                                user_id: str) -> None:
    sent = server.publish(to={"users": [user_id]}, type="order.status", title="linked")["id"]
    assert f'href="/admin/users?user={user_id}"' in admin.get(f"/admin/notifications/{sent}").text


def test_with_redis_the_node_holding_the_connection_is_named_on_every_node(tmp_path: Path,
                                                                          redis_server: RedisServer) -> None:
    database = create_postgres_database()
    shared = {"HERALD_REDIS_URL": redis_server.url}
    a = HeraldServer(tmp_path / "a", database, **shared).start()
    b = HeraldServer(tmp_path / "b", database, HERALD_MIGRATE_ON_START="false", **shared).start()
    try:
        on_a, on_b = signed_in(a, "alice"), signed_in(b, "bob")
        user = "support-cluster-user"
        with httpx.stream("GET", b.url + "/api/notifications/stream", timeout=30,
                          headers={"Authorization": f"Bearer {b.token(user)}"}) as stream:
            assert stream.status_code == 200
            page_b = eventually(lambda: (p := on_b.get("/admin/users", params={"user": user}).text)
                                and 'data-transport="sse"' in p and p)
            node_b = re.search(r"bus node ([0-9a-f]+)", page_b).group(1)  # type: ignore[union-attr]
            page_a = eventually(lambda: (p := on_a.get("/admin/users", params={"user": user}).text)
                                and f"<code>{node_b}</code>" in p and p)
            assert page_a, "node A does not name node B"
            assert "Online now on 1 node" in page_a and "No open connection on this node" in page_a
        on_a.close()
        on_b.close()
    finally:
        a.stop()
        b.stop()
        drop_postgres_database(database)
