"""Scheduled delivery (``sendAt``) on a real server, on both databases: on time, across a restart, cancelled,
listed, and every bad input answered with the contract's 4xx body."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from tests.herald_server import HeraldServer, create_postgres_database, drop_postgres_database
from tests.integration.scheduling import at, epoch, inbox_ids, schedule
from tests.scrape import wait_metric
from tests.transports import TRANSPORTS, subscribe


def wait_for_item(server: HeraldServer, user_id: str, item_id: str, timeout: float) -> float:
    """When the item was first seen in the inbox (polled every 20 ms)."""
    deadline = time.time() + timeout
    while item_id not in inbox_ids(server, user_id):
        assert time.time() < deadline, f"{item_id} did not arrive"
        time.sleep(0.02)
    return time.time()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_scheduled_notification_arrives_live_within_a_second_of_its_time(
        server: HeraldServer, user_id: str, transport: str) -> None:
    token = server.token(user_id)
    async with subscribe(transport, server.url, token) as sub:
        await sub.until("ready")
        accepted = schedule(server, user_id, 1.5, replaceKey="order:1")
        assert accepted["scheduled"] is True and accepted["recipients"] is None
        assert abs(epoch(accepted["sendAt"]) - (time.time() + 1.5)) < 1
        message = await sub.until("notification", timeout=5)
        lateness = time.time() - epoch(accepted["sendAt"])
        assert message.data["id"] == accepted["id"] and message.data["title"] == "later"
        assert -0.05 < lateness < 1.0, f"arrived {lateness:.3f} s after its time"
        print(f"\n{transport}: scheduled notification arrived {lateness * 1000:.0f} ms after its sendAt")
    assert wait_metric(server, "herald_scheduled_lateness_seconds_count", 0) >= 1


def test_the_answer_and_the_list_show_it_until_it_is_sent(server: HeraldServer, user_id: str) -> None:
    accepted = schedule(server, user_id, 3600, replaceKey=f"list:{user_id}", data={"n": 1})
    listed = httpx.get(server.url + "/api/scheduled", params={"replaceKey": f"list:{user_id}"},
                       headers=server.headers()).json()
    assert [item["id"] for item in listed["items"]] == [accepted["id"]] and listed["cursor"] is None
    item = listed["items"][0]
    assert (item["status"], item["sendAt"], item["replaceKey"]) == ("pending", accepted["sendAt"], f"list:{user_id}")
    assert item["request"]["to"] == {"users": [user_id]} and item["request"]["data"] == {"n": 1}
    one = httpx.get(f"{server.url}/api/scheduled/{accepted['id']}", headers=server.headers())
    assert one.status_code == 200 and one.json()["id"] == accepted["id"]
    assert inbox_ids(server, user_id) == []
    # Paging: a cursor, then the rest.
    for i in range(2):
        schedule(server, user_id, 3600 + i, replaceKey=f"list:{user_id}")
    page = httpx.get(server.url + "/api/scheduled", params={"replaceKey": f"list:{user_id}", "limit": 2},
                     headers=server.headers()).json()
    rest = httpx.get(server.url + "/api/scheduled", params={"replaceKey": f"list:{user_id}", "after": page["cursor"]},
                     headers=server.headers()).json()
    assert len(page["items"]) == 2 and len(rest["items"]) == 1 and rest["cursor"] is None


def test_a_notification_cancelled_by_id_never_arrives(server: HeraldServer, user_id: str) -> None:
    cancelled, kept = schedule(server, user_id, 1.0, title="cancelled"), schedule(server, user_id, 1.0, title="kept")
    gone = httpx.delete(f"{server.url}/api/scheduled/{cancelled['id']}", headers=server.headers())
    assert gone.status_code == 204
    again = httpx.delete(f"{server.url}/api/scheduled/{cancelled['id']}", headers=server.headers())
    assert again.status_code == 404 and again.json()["error"] == "not_found"
    wait_for_item(server, user_id, kept["id"], timeout=5)
    time.sleep(0.5)
    assert inbox_ids(server, user_id) == [kept["id"]]
    sent = httpx.delete(f"{server.url}/api/scheduled/{kept['id']}", headers=server.headers())
    assert sent.status_code == 404, "already sent"
    assert httpx.get(f"{server.url}/api/scheduled/{cancelled['id']}",
                     headers=server.headers()).json()["status"] == "cancelled"


def test_notifications_cancelled_by_replace_key_never_arrive(server: HeraldServer, user_id: str) -> None:
    key = f"order:{user_id}"
    first, second = schedule(server, user_id, 1.0, replaceKey=key), schedule(server, user_id, 1.0, replaceKey=key)
    other = schedule(server, user_id, 1.0, replaceKey=key + ":other")
    wrong_target = httpx.post(server.url + "/api/scheduled/cancel", headers=server.headers(),
                              json={"replaceKey": key, "to": {"users": ["someone-else"]}})
    assert wrong_target.status_code == 404 and wrong_target.json()["error"] == "not_found"
    answer = httpx.post(server.url + "/api/scheduled/cancel", headers=server.headers(),
                        json={"replaceKey": key, "to": {"users": [user_id]}})
    assert answer.status_code == 200 and sorted(answer.json()["cancelled"]) == sorted([first["id"], second["id"]])
    wait_for_item(server, user_id, other["id"], timeout=5)
    time.sleep(0.5)
    assert inbox_ids(server, user_id) == [other["id"]]
    unknown = httpx.post(server.url + "/api/scheduled/cancel", headers=server.headers(), json={"replaceKey": key})
    assert unknown.status_code == 404 and set(unknown.json()) == {"error", "message"}


def test_an_idempotent_retry_answers_as_the_first_and_sends_one(server: HeraldServer, user_id: str) -> None:
    first = schedule(server, user_id, 1.0, idempotencyKey=f"k-{user_id}")
    again = schedule(server, user_id, 2.0, idempotencyKey=f"k-{user_id}")
    assert again == first
    wait_for_item(server, user_id, first["id"], timeout=5)
    time.sleep(1.5)
    assert inbox_ids(server, user_id) == [first["id"]]


@pytest.mark.parametrize(("fields", "words"), [
    ({"sendAt": "2020-01-01T00:00:00Z"}, "in the past"),
    ({"sendAt": at(31 * 86400)}, "30 days"),
    ({"sendAt": "tomorrow at noon"}, "sendAt"),
    ({"sendAt": "2026-12-01T10:00:00"}, "timezone"),
    ({"sendAt": 1796234477751}, "sendAt"),
    # Computed when the tests are collected: far enough ahead to be in the future still when they run.
    ({"sendAt": at(86400), "to": {"channel": "ticker"}, "persist": False}, "live channel"),
    ({"sendAt": at(86400), "to": {"group": "no-such-group"}}, "No group named"),
    ({"sendAt": at(86400), "expiresAt": at(3600)}, "after \"sendAt\""),
], ids=["past", "31-days", "malformed", "no-offset", "number", "live-channel", "unknown-group", "expires-first"])
def test_bad_send_at_inputs_are_refused_with_the_contract_body(server: HeraldServer, user_id: str,
                                                               fields: dict[str, Any], words: str) -> None:
    body = {"to": {"users": [user_id]}, "type": "t", "title": "x", **fields}
    answer = httpx.post(server.url + "/api/publish", headers=server.headers(), json=body)
    assert answer.status_code in (400, 404), answer.text
    assert set(answer.json()) == {"error", "message"} and words in answer.json()["message"]
    assert answer.json()["error"] == ("not_found" if answer.status_code == 404 else "invalid_request")


def test_the_scheduled_endpoints_need_an_api_key_and_refuse_bad_input(server: HeraldServer, user_id: str) -> None:
    for method, path, body in (("GET", "/api/scheduled", None),
                               ("DELETE", "/api/scheduled/01ARZ3NDEKTSV4RRFFQ69G5FAV", None),
                               ("POST", "/api/scheduled/cancel", {"replaceKey": "k"})):
        answer = httpx.request(method, server.url + path, json=body, headers={"Authorization": "Bearer nope"})
        assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
        subscriber = httpx.request(method, server.url + path, json=body,
                                   headers={"Authorization": f"Bearer {server.token(user_id)}"})
        assert subscriber.status_code == 401, "a subscriber token is not an API key"
    for path in ("/api/scheduled/not-an-id", "/api/scheduled/%00"):
        assert httpx.delete(server.url + path, headers=server.headers()).status_code == 404
    for params in ({"after": "garbage"}, {"limit": "0"}, {"limit": "1000"}):
        answer = httpx.get(server.url + "/api/scheduled", params=params, headers=server.headers())
        assert answer.status_code == 400 and answer.json()["error"] in ("invalid_request", "invalid_cursor")
    for body in ({}, {"replaceKey": ""}, {"replaceKey": "k", "to": {"users": []}}, {"replaceKey": "k", "extra": 1}):
        answer = httpx.post(server.url + "/api/scheduled/cancel", headers=server.headers(), json=body)
        assert answer.status_code == 400 and set(answer.json()) == {"error", "message"}, body


@pytest.fixture(params=["sqlite", "postgres"])
def private_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HeraldServer]:
    """A server of this test's own, which it may stop and start."""
    database = create_postgres_database() if request.param == "postgres" else ""
    herald = HeraldServer(tmp_path / "herald", database).start()
    yield herald
    herald.stop()
    if database:
        drop_postgres_database(database)


def test_after_a_restart_in_between_it_still_arrives_within_a_second_of_its_time(
        private_server: HeraldServer, user_id: str) -> None:
    server = private_server
    began = time.time()
    server.restart()
    restart_seconds = time.time() - began
    accepted = schedule(server, user_id, restart_seconds + 3)
    server.restart()
    seen = wait_for_item(server, user_id, accepted["id"], timeout=restart_seconds + 10)
    lateness = seen - epoch(accepted["sendAt"])
    assert lateness < 1.0, f"arrived {lateness:.3f} s after its time"
    print(f"\nafter a restart ({restart_seconds:.1f} s): arrived {lateness * 1000:.0f} ms after its sendAt "
          "(inbox polled every 20 ms)")


def test_what_fell_due_while_the_server_was_down_goes_out_as_it_starts(private_server: HeraldServer,
                                                                      user_id: str) -> None:
    server = private_server
    accepted = schedule(server, user_id, 0.5)
    server.stop()
    time.sleep(1.5)
    server.start()  # returns once /readyz answers
    started = time.time()
    seen = wait_for_item(server, user_id, accepted["id"], timeout=5)
    assert seen - started < 1.0, f"sent {seen - started:.3f} s after the server was ready"
    assert inbox_ids(server, user_id) == [accepted["id"]]


def test_a_scheduled_silent_replace_updates_the_item_at_its_time_and_stays_silent(
        server: HeraldServer, user_id: str) -> None:
    headers = {"Authorization": f"Bearer {server.token(user_id)}"}
    first = httpx.post(server.url + "/api/publish", headers=server.headers(), json={
        "to": {"users": [user_id]}, "type": "order.status", "title": "confirmed", "replaceKey": "order:1"})
    assert first.status_code == 202, first.text
    schedule(server, user_id, 1.0, replaceKey="order:1", silent=True, ttlSeconds=3600, title="shipped")
    deadline = time.time() + 5
    while True:
        items = httpx.get(server.url + "/api/notifications", headers=headers).json()["items"]
        if items and items[0]["title"] == "shipped" or time.time() > deadline:
            break
        time.sleep(0.05)
    assert [(item["title"], item.get("silent")) for item in items] == [("shipped", True)], "replaced in place, silent"
