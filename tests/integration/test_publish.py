"""Publishing: targets, idempotency, grouping, large fan-outs, and every bad input."""
from __future__ import annotations

import concurrent.futures

import httpx
import pytest

from tests.herald_server import HeraldServer
from tests.sse_client import open_stream


def inbox(server: HeraldServer, user: str, **params: str) -> dict:
    response = httpx.get(server.url + "/api/notifications", params=params,
                         headers={"Authorization": f"Bearer {server.token(user)}"})
    assert response.status_code == 200, response.text
    return response.json()


def post(server: HeraldServer, body: object, **headers: str) -> httpx.Response:
    return httpx.post(server.url + "/api/publish", json=body, headers={**server.headers(), **headers})


def test_publish_answers_202_with_id_and_recipient_count(server: HeraldServer, user_id: str) -> None:
    response = post(server, {"to": {"users": [user_id, user_id + "b", user_id]}, "type": "t", "title": "hi"})
    assert response.status_code == 202
    body = response.json()
    assert body["recipients"] == 2
    assert inbox(server, user_id)["items"][0]["id"] == body["id"]
    assert inbox(server, user_id + "b")["items"][0]["id"] == body["id"]


def test_group_target_reaches_current_members_only(server: HeraldServer, user_id: str) -> None:
    group = f"team-{user_id}"
    members = [user_id + "a", user_id + "b"]
    put = httpx.put(f"{server.url}/api/groups/{group}", json={"users": members}, headers=server.headers())
    assert put.status_code == 200 and put.json() == {"name": group, "users": members}
    assert httpx.get(f"{server.url}/api/groups/{group}", headers=server.headers()).json()["users"] == members
    httpx.put(f"{server.url}/api/groups/{group}", json={"users": [members[1]]}, headers=server.headers())
    assert server.publish(to={"group": group}, type="t", title="team news")["recipients"] == 1
    assert inbox(server, members[0])["items"] == []
    assert inbox(server, members[1])["items"][0]["title"] == "team news"
    assert httpx.delete(f"{server.url}/api/groups/{group}", headers=server.headers()).status_code == 204
    gone = post(server, {"to": {"group": group}, "type": "t", "title": "x"})
    assert gone.status_code == 404 and gone.json()["error"] == "not_found"


def test_topic_target_reaches_followers(server: HeraldServer, user_id: str) -> None:
    topic = f"releases-{user_id}"
    follower, bystander = user_id + "f", user_id + "b"
    assert httpx.put(f"{server.url}/api/topics/{topic}/subscribers/{follower}", headers=server.headers()).status_code == 204
    assert server.publish(to={"topic": topic}, type="t", title="v2 is out")["recipients"] == 1
    assert inbox(server, follower)["items"][0]["title"] == "v2 is out"
    assert inbox(server, bystander)["items"] == []
    assert httpx.delete(f"{server.url}/api/topics/{topic}/subscribers/{follower}", headers=server.headers()).status_code == 204
    assert server.publish(to={"topic": topic}, type="t", title="v3")["recipients"] == 0


def test_all_target_reaches_every_known_user(server: HeraldServer, user_id: str) -> None:
    server.token(user_id)  # minting a token makes the user known
    sent = server.publish(to={"all": True}, type="maintenance", title="Downtime at 2am")
    assert sent["recipients"] >= 1
    assert inbox(server, user_id)["items"][0]["id"] == sent["id"]


def test_same_idempotency_key_returns_first_answer_and_delivers_once(server: HeraldServer, user_id: str) -> None:
    body = {"to": {"users": [user_id]}, "type": "t", "title": "once", "idempotencyKey": f"k-{user_id}"}
    first = post(server, body)
    again = post(server, {**body, "title": "changed"})
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert [i["title"] for i in inbox(server, user_id)["items"]] == ["once"]


def test_concurrent_duplicates_of_one_idempotency_key_deliver_once(server: HeraldServer, user_id: str) -> None:
    body = {"to": {"users": [user_id]}, "type": "t", "title": "race", "idempotencyKey": f"race-{user_id}"}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(server, body), range(8)))
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(inbox(server, user_id)["items"]) == 1


def test_same_group_key_collapses_into_one_item_updated_in_place(server: HeraldServer, user_id: str) -> None:
    key = f"post:42:likes:{user_id}"
    first = server.publish(to={"users": [user_id]}, type="post.liked", title="Bo liked your post", groupKey=key, actor="Bo")
    for name in ("Cy", "Di", "Ed", "Anna"):
        server.publish(to={"users": [user_id]}, type="post.liked", title=f"{name} liked your post", groupKey=key, actor=name)
    page = inbox(server, user_id)
    assert len(page["items"]) == 1 and page["unreadCount"] == 1
    item = page["items"][0]
    assert item["id"] == first["id"], "the group keeps its first id"
    assert (item["title"], item["groupCount"], item["actors"]) == ("Anna liked your post", 5, ["Anna", "Ed", "Di"])


async def test_group_update_is_delivered_live_with_the_same_id(server: HeraldServer, user_id: str) -> None:
    key = f"g-{user_id}"
    async with open_stream(server.url, server.token(user_id)) as stream:
        await stream.until("ready")
        first = server.publish(to={"users": [user_id]}, type="t", title="1 like", groupKey=key)["id"]
        server.publish(to={"users": [user_id]}, type="t", title="2 likes", groupKey=key)
        a, b = await stream.until("notification"), await stream.until("notification")
        assert a.json()["id"] == b.json()["id"] == first
        assert (b.json()["groupCount"], b.json()["title"], b.id) == (2, "2 likes", "2")


def test_read_group_starts_a_new_item(server: HeraldServer, user_id: str) -> None:
    key = f"g-{user_id}"
    first = server.publish(to={"users": [user_id]}, type="t", title="a", groupKey=key)["id"]
    httpx.post(f"{server.url}/api/notifications/{first}/read", headers={"Authorization": f"Bearer {server.token(user_id)}"})
    second = server.publish(to={"users": [user_id]}, type="t", title="b", groupKey=key)["id"]
    assert [i["id"] for i in inbox(server, user_id)["items"]] == [second, first]


def test_group_of_ten_thousand_is_one_publish(server: HeraldServer, user_id: str) -> None:
    group = f"big-{user_id}"
    members = [f"{user_id}-m{i}" for i in range(10_000)]
    assert httpx.put(f"{server.url}/api/groups/{group}", json={"users": members}, headers=server.headers(), timeout=60).status_code == 200
    sent = server.publish(to={"group": group}, type="t", title="everyone")
    assert sent["recipients"] == 10_000
    assert inbox(server, members[-1])["items"][0]["id"] == sent["id"]


GOOD = {"to": {"users": ["someone"]}, "type": "t", "title": "ok"}


@pytest.mark.parametrize(("body", "code"), [
    ({**GOOD, "title": ""}, "invalid_request"),
    ({**GOOD, "title": "x" * 201}, "invalid_request"),
    ({**GOOD, "body": "x" * 4001}, "invalid_request"),
    ({**GOOD, "data": {"blob": "x" * 8200}}, "invalid_request"),
    ({**GOOD, "priority": "critical"}, "invalid_request"),
    ({**GOOD, "to": {"users": ["a"], "group": "g"}}, "invalid_request"),
    ({**GOOD, "to": {}}, "invalid_request"),
    ({**GOOD, "to": {"all": False}}, "invalid_request"),
    ({**GOOD, "to": {"users": []}}, "invalid_request"),
    ({**GOOD, "to": {"users": [f"u{i}" for i in range(10_001)]}}, "invalid_request"),
    ({**GOOD, "to": {"users": ["has space"]}}, "invalid_request"),
    ({**GOOD, "title": 5}, "invalid_request"),
    ({**GOOD, "data": [1, 2]}, "invalid_request"),
    ({**GOOD, "url": "javascript:alert(1)"}, "invalid_request"),
    ({**GOOD, "titel": "typo"}, "invalid_request"),
    ([GOOD], "invalid_request"),
])
def test_bad_publish_bodies_get_400_with_the_error_body(server: HeraldServer, body: object, code: str) -> None:
    response = httpx.post(server.url + "/api/publish", json=body, headers=server.headers(), timeout=30)
    if response.status_code == 413:  # 10,001 users is also beyond the 64 KiB body limit
        assert response.json()["error"] == "payload_too_large"
        return
    assert response.status_code == 400, response.text
    assert response.json()["error"] == code
    assert isinstance(response.json()["message"], str) and response.json()["message"]


def test_malformed_json_is_400_invalid_json(server: HeraldServer) -> None:
    response = httpx.post(server.url + "/api/publish", content=b'{"to": {"users": ["a"]', headers={
        **server.headers(), "Content-Type": "application/json"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_json")


def test_wrong_content_type_is_415(server: HeraldServer) -> None:
    response = httpx.post(server.url + "/api/publish", content=b"to=a", headers={
        **server.headers(), "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


def test_body_over_64_kib_is_413(server: HeraldServer) -> None:
    response = httpx.post(server.url + "/api/publish", json={**GOOD, "body": "x" * 70_000}, headers=server.headers())
    assert response.status_code == 413
    assert response.json() == {"error": "payload_too_large", "message": "The request body is too large."}


@pytest.mark.parametrize("auth", [None, "Bearer wrong-key", "Basic abc", "Bearer", "bearer x y"])
def test_publish_without_a_valid_api_key_is_401(server: HeraldServer, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth else {}
    response = httpx.post(server.url + "/api/publish", json=GOOD, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_subscriber_token_is_not_an_api_key(server: HeraldServer, user_id: str) -> None:
    response = httpx.post(server.url + "/api/publish", json=GOOD, headers={"Authorization": f"Bearer {server.token(user_id)}"})
    assert response.status_code == 401


def test_bad_input_loses_nothing_accepted_before(server: HeraldServer, user_id: str) -> None:
    kept = server.publish(to={"users": [user_id]}, type="t", title="kept")["id"]
    post(server, {"to": {"users": [user_id]}, "type": "t", "title": "x" * 300})
    post(server, {"to": {"users": [user_id], "all": True}, "type": "t", "title": "x"})
    assert [i["id"] for i in inbox(server, user_id)["items"]] == [kept]


OTHER_KEY = "another-producer-key-0123456789"


def test_publishing_beyond_the_key_limit_is_429_and_loses_nothing_accepted_before(fresh_server: HeraldServer,
                                                                                 user_id: str) -> None:
    fresh_server.env.update(HERALD_API_KEYS=f"{fresh_server.api_key},{OTHER_KEY}",
                            HERALD_PUBLISH_RATE_PER_SECOND="0.05", HERALD_PUBLISH_BURST="3")
    fresh_server.start()
    body = {"to": {"users": [user_id]}, "type": "t", "title": "x"}
    accepted = [post(fresh_server, body).json()["id"] for _ in range(3)]
    refused = post(fresh_server, {**body, "idempotencyKey": "late"})
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert refused.json()["message"].startswith("Publishing too fast: at most 0.05 per second (bursts of 3)")
    assert 1 <= int(refused.headers["retry-after"]) <= 20
    # Everything accepted before is there, and the refused one is not.
    assert [item["id"] for item in inbox(fresh_server, user_id)["items"]] == accepted[::-1]
    # The limit is per key: another producer is not held back.
    other = post(fresh_server, body, Authorization=f"Bearer {OTHER_KEY}")
    assert other.status_code == 202
    from tests.scrape import metric

    assert metric(fresh_server, "herald_rate_limited_total", '{reason="publish"}') == 1
    assert metric(fresh_server, "herald_publishes_total", '{target="users"}') == 4


async def test_past_the_recipient_limit_new_items_go_out_quiet_and_all_stay_in_the_inbox(
        fresh_server: HeraldServer, user_id: str) -> None:
    fresh_server.env.update(HERALD_RECIPIENT_LIVE_PER_MINUTE="3")
    fresh_server.start()
    sent = [dict(title=f"n{i}") for i in range(5)] + [
        dict(title="alarm", priority="urgent"),  # counted, but never quiet
        dict(title="Anna liked it", groupKey="g", actor="Anna"),  # a new group: counted
        dict(title="Ben liked it", groupKey="g", actor="Ben"),  # updates in place: not counted
        dict(title="Cleo liked it", groupKey="g", actor="Cleo"),
    ]
    async with open_stream(fresh_server.url, fresh_server.token(user_id)) as stream, \
            open_stream(fresh_server.url, fresh_server.token(user_id + "-other")) as other:
        await stream.until("ready")
        await other.until("ready")
        for fields in sent:
            fresh_server.publish(to={"users": [user_id]}, type="t", **fields)
        fresh_server.publish(to={"users": [user_id + "-other"]}, type="t", title="for someone else")
        live = [(await stream.until("notification")).json() for _ in sent]
        assert "quiet" not in (await other.until("notification")).json()
    assert [item["title"] for item in live] == [fields["title"] for fields in sent]
    assert [item.get("quiet", False) for item in live] == [False, False, False, True, True, False, True, False, False]
    assert live[-1]["groupCount"] == 3
    # The inbox keeps every one, as it always does; "quiet" is a live-delivery hint only.
    items = inbox(fresh_server, user_id)["items"]
    assert len(items) == 7 and not any("quiet" in item for item in items)
    from tests.scrape import metric

    assert metric(fresh_server, "herald_quiet_deliveries_total") == 3
