"""Webhooks out against a real receiver that verifies every signature with the standardwebhooks library.

Endpoints are added through the admin console as an operator would; events come from the
real API (a receipt, a read); a Herald with fast retries runs on each database.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from herald.api_keys import fingerprint
from tests.admin_client import AdminClient, signed_in
from tests.eventually import eventually
from tests.herald_server import (
    API_KEY,
    SECRET,
    HeraldServer,
    create_postgres_database,
    drop_postgres_database,
    run_async,
)
from tests.webhook_receiver import Listener, WebhookReceiver

FAST = {"HERALD_WEBHOOK_RETRY_BASE_SECONDS": "0.2", "HERALD_WEBHOOK_RETRY_MAX_SECONDS": "0.5",
        "HERALD_WEBHOOK_MAX_ATTEMPTS": "4", "HERALD_WEBHOOK_TIMEOUT_SECONDS": "2"}
_SECRET = re.compile(r'id="new-secret">([^<]+)<')


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def herald(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeraldServer]:
    database_url = create_postgres_database() if request.param == "postgres" else ""
    server = HeraldServer(tmp_path_factory.mktemp(f"webhooks-{request.param}"), database_url, **FAST).start()
    yield server
    server.stop()
    if database_url:
        drop_postgres_database(database_url)


@pytest.fixture
def admin(herald: HeraldServer) -> Iterator[AdminClient]:
    client = signed_in(herald)
    yield client
    client.close()


@pytest.fixture
def receiver(admin: AdminClient) -> Iterator[WebhookReceiver]:
    """A receiver registered for the test API key's events; removed again afterwards."""
    receiver = WebhookReceiver().start()
    endpoint_id = add_endpoint(admin, receiver, ["delivered", "read"])
    yield receiver
    admin.post(f"/admin/webhooks/{endpoint_id}/delete")
    receiver.stop()


def add_endpoint(admin: AdminClient, receiver: WebhookReceiver, events: list[str]) -> str:
    admin.get("/admin/webhooks")
    response = admin.post("/admin/webhooks", {"producer": fingerprint(API_KEY), "url": receiver.url, "events": events})
    assert response.status_code == 201, response.text
    receiver.secret = _SECRET.search(response.text).group(1)  # type: ignore[union-attr]
    rows = admin.get("/admin/webhooks").text
    return re.search(r'data-endpoint="([0-9A-Z]+)">\s*<td><a href="/admin/webhooks/[0-9A-Z]+">'
                     + re.escape(receiver.url), rows).group(1)  # type: ignore[union-attr]


def execute(database_url: str, statement: str, **params: object) -> None:
    """A committed write to the server's PostgreSQL database (``HeraldServer.sql`` only reads)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def write() -> None:
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(statement), params)
        finally:
            await engine.dispose()

    run_async(write())


def user_headers(herald: HeraldServer, user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {herald.token(user_id)}"}


def test_delivered_and_read_arrive_signed_with_the_notification(herald: HeraldServer, receiver: WebhookReceiver,
                                                                user_id: str) -> None:
    sent = herald.publish(to={"users": [user_id]}, title="Order 1042 shipped", type="order.status")
    headers = user_headers(herald, user_id)
    assert httpx.post(herald.url + "/api/notifications/ack", json={"ids": [sent["id"]]}, headers=headers).status_code == 204
    delivered = eventually(lambda: receiver.events(user_id, "delivered"))
    assert delivered, "no delivered event"
    assert httpx.post(herald.url + f"/api/notifications/{sent['id']}/read", headers=headers).status_code == 200
    read = eventually(lambda: receiver.events(user_id, "read"))
    assert read, "no read event"
    for event in (delivered[0], read[0]):
        assert event.verified and event.answered == 204
        assert event.headers["webhook-id"].startswith("msg_")
        body = event.event
        assert body["data"]["notificationId"] == sent["id"] and body["data"]["itemId"] == sent["id"]
        assert body["timestamp"].endswith("Z")
    # A repeated receipt is not a second first delivery.
    httpx.post(herald.url + "/api/notifications/ack", json={"ids": [sent["id"]]}, headers=headers)
    herald.publish(to={"users": [user_id]}, title="a marker", type="order.status")
    assert len(receiver.events(user_id, "delivered")) == 1


def test_read_all_reports_each_item_read(herald: HeraldServer, receiver: WebhookReceiver, user_id: str) -> None:
    ids = {herald.publish(to={"users": [user_id]}, title=f"status {n}", type="order.status")["id"] for n in range(3)}
    assert httpx.post(herald.url + "/api/notifications/read-all", headers=user_headers(herald, user_id)).status_code == 200
    assert eventually(lambda: len(receiver.events(user_id, "read")) >= 3)
    assert {r.event["data"]["itemId"] for r in receiver.events(user_id, "read")} == ids


def test_a_bulk_read_within_a_filter_reports_each_item_read(herald: HeraldServer, receiver: WebhookReceiver,
                                                            user_id: str) -> None:
    orders = {herald.publish(to={"users": [user_id]}, title=f"order {n}", type="order.status")["id"] for n in range(2)}
    herald.publish(to={"users": [user_id]}, title="a chat", type="chat")
    answer = httpx.post(herald.url + "/api/notifications/triage", headers=user_headers(herald, user_id),
                        json={"all": True, "within": {"type": ["order.*"]}, "set": {"read": True}})
    assert answer.json() == {"unreadCount": 1}
    assert eventually(lambda: len(receiver.events(user_id, "read")) >= 2)
    time.sleep(0.3)
    assert {r.event["data"]["itemId"] for r in receiver.events(user_id, "read")} == orders


def test_an_action_and_an_archive_reach_the_backend(herald: HeraldServer, admin: AdminClient, user_id: str) -> None:
    receiver = WebhookReceiver().start()
    endpoint_id = add_endpoint(admin, receiver, ["action", "archived"])
    try:
        sent = herald.publish(to={"users": [user_id]}, title="Approve?", type="approval",
                              actions=[{"id": "approve", "label": "Approve", "style": "primary"}])
        headers = user_headers(herald, user_id)
        assert httpx.post(herald.url + f"/api/notifications/{sent['id']}/actions/approve",
                          headers=headers).status_code == 200
        assert httpx.post(herald.url + f"/api/notifications/{sent['id']}/archive", headers=headers).status_code == 200
        action = eventually(lambda: receiver.events(user_id, "action"))
        archived = eventually(lambda: receiver.events(user_id, "archived"))
        assert action and archived, "no action or archived event"
        assert action[0].verified and action[0].event["data"]["action"] == "approve"
        assert action[0].event["data"]["itemId"] == sent["id"] == archived[0].event["data"]["notificationId"]
    finally:
        admin.post(f"/admin/webhooks/{endpoint_id}/delete")
        receiver.stop()


def test_a_click_reaches_the_backend_each_time_and_reads_the_item_once(herald: HeraldServer, admin: AdminClient,
                                                                        user_id: str) -> None:
    receiver = WebhookReceiver().start()
    endpoint_id = add_endpoint(admin, receiver, ["clicked", "read"])
    try:
        sent = herald.publish(to={"users": [user_id]}, title="Anna replied", type="comment", url="/c/1")
        other = herald.publish(to={"users": [user_id]}, title="Ben replied", type="comment")
        headers = user_headers(herald, user_id)
        assert httpx.post(herald.url + f"/api/notifications/{sent['id']}/click", headers=headers).json() == {
            "unreadCount": 1}
        (item,) = [i for i in httpx.get(herald.url + "/api/notifications", headers=headers).json()["items"]
                   if i["id"] == sent["id"]]
        assert item["read"] is True and item["seen"] is True
        # Opened again from a system notification: a second click, no second read.
        assert httpx.post(herald.url + f"/api/notifications/{sent['id']}/click", headers=headers).status_code == 200
        assert eventually(lambda: len(receiver.events(user_id, "clicked")) == 2)
        clicks = receiver.events(user_id, "clicked")
        assert all(c.verified for c in clicks) and {c.event["data"]["itemId"] for c in clicks} == {sent["id"]}
        assert clicks[0].event["data"]["clickedAt"] > 0
        assert [r.event["data"]["itemId"] for r in receiver.events(user_id, "read")] == [sent["id"]]
        # Another user's item, or none: 404, and nothing is told.
        stranger = user_headers(herald, user_id + "-stranger")
        assert httpx.post(herald.url + f"/api/notifications/{other['id']}/click", headers=stranger).status_code == 404
        assert httpx.post(herald.url + "/api/notifications/nope/click", headers=headers).status_code == 404
        time.sleep(0.3)
        assert len(receiver.events(user_id, "clicked")) == 2
    finally:
        admin.post(f"/admin/webhooks/{endpoint_id}/delete")
        receiver.stop()


def test_a_failing_receiver_gets_the_event_again_with_the_same_id(herald: HeraldServer, receiver: WebhookReceiver,
                                                                  user_id: str) -> None:
    receiver.fail_next = 2
    sent = herald.publish(to={"users": [user_id]}, title="retry me", type="order.status")
    httpx.post(herald.url + "/api/notifications/ack", json={"ids": [sent["id"]]}, headers=user_headers(herald, user_id))
    attempts = eventually(lambda: [r for r in receiver.events(user_id, "delivered")] if len(
        receiver.events(user_id, "delivered")) >= 3 else None)
    assert attempts, f"got {len(receiver.events(user_id, 'delivered'))} attempts"
    assert [a.answered for a in attempts] == [500, 500, 204]
    assert len({a.headers["webhook-id"] for a in attempts}) == 1
    assert len({a.body for a in attempts}) == 1  # the same event, byte for byte
    assert all(a.verified for a in attempts)  # each attempt signed afresh, with its own timestamp


def test_a_receiver_that_never_answers_2xx_is_given_up_after_the_attempts(herald: HeraldServer, admin: AdminClient,
                                                                          receiver: WebhookReceiver,
                                                                          user_id: str) -> None:
    receiver.fail_next = 100
    sent = herald.publish(to={"users": [user_id]}, title="never", type="order.status")
    httpx.post(herald.url + "/api/notifications/ack", json={"ids": [sent["id"]]}, headers=user_headers(herald, user_id))
    assert eventually(lambda: len(receiver.events(user_id, "delivered")) >= 4)
    webhook_id = receiver.events(user_id, "delivered")[0].headers["webhook-id"]
    assert eventually(lambda: herald.sql("SELECT status FROM webhook_deliveries WHERE id = :i", i=webhook_id)
                      == [("failed",)])
    herald.publish(to={"users": [user_id]}, title="a marker", type="order.status")
    assert len(receiver.events(user_id, "delivered")) == 4  # HERALD_WEBHOOK_MAX_ATTEMPTS, then no more
    receiver.fail_next = 0


def test_the_admin_shows_each_attempt_with_its_answer(herald: HeraldServer, admin: AdminClient,
                                                      user_id: str) -> None:
    receiver = WebhookReceiver().start()
    try:
        endpoint_id = add_endpoint(admin, receiver, ["delivered"])
        receiver.fail_next = 1
        sent = herald.publish(to={"users": [user_id]}, title="shown", type="order.status")
        httpx.post(herald.url + "/api/notifications/ack", json={"ids": [sent["id"]]},
                   headers=user_headers(herald, user_id))
        assert eventually(lambda: len(receiver.events(user_id, "delivered")) >= 2)
        page = eventually(lambda: (p := admin.get(f"/admin/webhooks/{endpoint_id}").text).count("data-delivery=") >= 2
                          and "delivered</td>" in p and p)
        assert page, "the attempts are not listed"
        assert "HTTP 500" in page and "HTTP 204" in page
        assert admin.post(f"/admin/webhooks/{endpoint_id}/ping").status_code == 303
        ping = eventually(lambda: receiver.events(event_type="ping"))
        assert ping and ping[0].verified and ping[0].event["data"] == {"endpointId": endpoint_id}
        assert admin.post(f"/admin/webhooks/{endpoint_id}/disable").status_code == 303
        assert "disabled" in admin.get(f"/admin/webhooks/{endpoint_id}").text
    finally:
        admin.post(f"/admin/webhooks/{endpoint_id}/delete")
        receiver.stop()


def test_the_secret_is_shown_once_and_the_change_is_audited(admin: AdminClient) -> None:
    receiver = WebhookReceiver()
    endpoint_id = add_endpoint(admin, receiver, ["read"])
    try:
        assert receiver.secret.startswith("whsec_")
        for page in ("/admin/webhooks", f"/admin/webhooks/{endpoint_id}", "/admin/audit"):
            assert receiver.secret not in admin.get(page).text
        assert "webhook.create" in admin.get("/admin/audit").text
    finally:
        admin.post(f"/admin/webhooks/{endpoint_id}/delete")
    assert admin.get(f"/admin/webhooks/{endpoint_id}").status_code == 404


@pytest.mark.parametrize("url", ["http://10.0.0.5/hook", "http://169.254.169.254/latest/meta-data",
                                 "https://[fd00::1]/x", "http://metadata.google.internal/", "ftp://example.com/",
                                 "http://example.com/plain-http", "https://user:pw@example.com/"])
def test_addresses_herald_never_contacts_are_refused_when_added(admin: AdminClient, url: str) -> None:
    admin.get("/admin/webhooks")
    response = admin.post("/admin/webhooks", {"producer": fingerprint(API_KEY), "url": url, "events": ["read"]})
    assert response.status_code == 400
    assert 'class="field-error"' in response.text
    assert url not in admin.get("/admin/webhooks").text.split("<h2>New endpoint</h2>")[0]


def test_unknown_events_and_keys_are_refused(admin: AdminClient) -> None:
    admin.get("/admin/webhooks")
    url = "http://127.0.0.1:9/x"
    assert admin.post("/admin/webhooks", {"producer": fingerprint(API_KEY), "url": url,
                                          "events": ["exploded"]}).status_code == 400
    assert admin.post("/admin/webhooks", {"producer": fingerprint(API_KEY), "url": url}).status_code == 400
    assert admin.post("/admin/webhooks", {"producer": "0" * 16, "url": url, "events": ["read"]}).status_code == 400


def test_production_never_connects_to_a_loopback_endpoint(tmp_path: Path, user_id: str) -> None:
    """Added in development (loopback allowed), then served in production: refused at send, no connection made."""
    listener = Listener()
    server = HeraldServer(tmp_path / "herald", **FAST).start()
    try:
        admin = signed_in(server)
        admin.get("/admin/webhooks")
        response = admin.post("/admin/webhooks", {"producer": fingerprint(API_KEY), "events": ["read"],
                                                  "url": f"http://127.0.0.1:{listener.port}/hook"})
        assert response.status_code == 201, response.text
        admin.close()
        server.stop()
        server.env.update(HERALD_ENV="production", HERALD_SECRET=SECRET)
        server.start()
        sent = server.publish(to={"users": [user_id]}, title="to nowhere", type="order.status")
        httpx.post(server.url + f"/api/notifications/{sent['id']}/read", headers=user_headers(server, user_id))
        rows = eventually(lambda: server.sql("SELECT d.status, a.error FROM webhook_deliveries d "
                                             "JOIN webhook_attempts a ON a.delivery_id = d.id"))
        assert rows and rows[0][0] == "failed" and "address not allowed" in rows[0][1]
        assert listener.connections == 0
    finally:
        server.stop()
        listener.close()


def test_a_push_that_fails_for_good_is_reported(herald: HeraldServer, admin: AdminClient, user_id: str) -> None:
    from tests.fake_push_service import FakePushService, subscribe

    service = FakePushService().start()
    receiver = WebhookReceiver().start()
    endpoint_id = ""
    try:
        service.vapid_public_key = httpx.get(herald.url + "/api/push/vapid-public-key").json()["publicKey"]
        endpoint_id = add_endpoint(admin, receiver, ["push.failed"])
        sub = subscribe(herald, service, user_id)
        service.answer(sub, 410)
        sent = herald.publish(to={"users": [user_id]}, type="order.status", title="to a dead browser")
        failed = eventually(lambda: receiver.events(user_id, "push.failed"))
        assert failed and failed[0].verified
        assert failed[0].event["data"] == {"notificationId": sent["id"], "userId": user_id, "itemId": sent["id"],
                                           "provider": "webpush", "result": "gone", "reason": "410"}
        assert receiver.events(user_id, "delivered") == []  # not asked for
    finally:
        if endpoint_id:
            admin.post(f"/admin/webhooks/{endpoint_id}/delete")
        receiver.stop()
        service.stop()


def test_two_nodes_on_one_postgresql_send_each_event_once(tmp_path: Path) -> None:
    """Both nodes' senders claim from one queue (FOR UPDATE SKIP LOCKED): no event goes out twice."""
    database_url = create_postgres_database()
    # A long timeout: on a loaded machine a 2 s one can expire on a POST the receiver did take, and its
    # retry (at least once, by design) would look like a double claim, which is what this test is about.
    nodes = [HeraldServer(tmp_path / f"node{n}", database_url, **{**FAST, "HERALD_WEBHOOK_TIMEOUT_SECONDS": "20"})
             for n in range(2)]
    receiver = WebhookReceiver().start()
    try:
        for node in nodes:
            node.start()
        admin = signed_in(nodes[0])
        add_endpoint(admin, receiver, ["delivered"])
        admin.close()
        time.sleep(6)  # the other node hears of the endpoint within its refresh (5 s)
        users = [f"pair-{n}" for n in range(20)]
        for n, user in enumerate(users):
            node = nodes[n % 2]
            sent = node.publish(to={"users": [user]}, type="order.status", title="once")
            httpx.post(node.url + "/api/notifications/ack", json={"ids": [sent["id"]]}, headers=user_headers(node, user))
        assert eventually(lambda: len(receiver.events(event_type="delivered")) >= 20, timeout=20)
        time.sleep(1)
        ids = [r.headers["webhook-id"] for r in receiver.events(event_type="delivered")]
        assert len(ids) == 20 and len(set(ids)) == 20
        assert {r.event["data"]["userId"] for r in receiver.events(event_type="delivered")} == set(users)
        # A race for sure: 300 rows due at one instant that both idle senders will have heard of.
        endpoint_id = nodes[0].sql("SELECT id FROM webhook_endpoints")[0][0]
        due = int(time.time() * 1000) + 6000
        values = ", ".join(f"('msg_race{n:04d}', :e, 'read', '{{\"type\":\"read\",\"data\":{{}}}}', 'pending', 0, "
                           f"{due}, {due})" for n in range(300))
        execute(database_url, f"INSERT INTO webhook_deliveries (id, endpoint_id, type, body, status, attempts, "
                              f"created_at, next_attempt_at) VALUES {values}", e=endpoint_id)
        assert eventually(lambda: len(receiver.events(event_type="read")) >= 300, timeout=30)
        time.sleep(1)
        race = [r.headers["webhook-id"] for r in receiver.events(event_type="read")]
        assert len(race) == 300 and len(set(race)) == 300
    finally:
        for node in nodes:
            node.stop()
        receiver.stop()
        drop_postgres_database(database_url)
