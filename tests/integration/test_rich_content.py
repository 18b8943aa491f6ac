"""Avatars and images on publish: stored, returned everywhere the item appears, and checked like push endpoints."""
from __future__ import annotations

import httpx
import pytest

from tests.herald_server import HeraldServer
from tests.sse_client import open_stream

AVATAR = "https://cdn.example.com/u/anna.png"
IMAGE = "https://cdn.example.com/p/42.jpg"


def post(server: HeraldServer, user: str, **fields: object) -> httpx.Response:
    return httpx.post(server.url + "/api/publish", headers=server.headers(),
                      json={"to": {"users": [user]}, "type": "post.liked", "title": "Anna liked your post", **fields})


def newest(server: HeraldServer, user: str) -> dict:
    return httpx.get(server.url + "/api/notifications",
                     headers={"Authorization": f"Bearer {server.token(user)}"}).json()["items"][0]


def test_avatar_and_image_are_stored_and_listed_with_the_item(server: HeraldServer, user_id: str) -> None:
    assert post(server, user_id, avatarUrl=AVATAR, imageUrl=IMAGE).status_code == 202
    item = newest(server, user_id)
    assert (item["avatarUrl"], item["imageUrl"]) == (AVATAR, IMAGE)


def test_an_item_without_pictures_has_no_picture_fields(server: HeraldServer, user_id: str) -> None:
    assert post(server, user_id).status_code == 202
    assert not {"avatarUrl", "imageUrl"} & set(newest(server, user_id))


async def test_live_events_carry_the_pictures(server: HeraldServer, user_id: str) -> None:
    async with open_stream(server.url, server.token(user_id)) as stream:
        await stream.until("ready")
        assert post(server, user_id, avatarUrl=AVATAR).status_code == 202
        event = await stream.until("notification")
    assert event.json()["avatarUrl"] == AVATAR and "imageUrl" not in event.json()


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "data:image/png;base64,AAAA", "ftp://cdn.example.com/a.png", "/relative/a.png",
    "http://cdn.example.com/a.png",                      # plain http off loopback
    "https://10.0.0.5/a.png", "https://192.168.1.1/a.png", "https://[fd00::1]/a.png",  # private
    "https://169.254.169.254/latest/meta-data", "https://[fe80::1]/a.png",           # metadata, link-local
    "https://metadata.google.internal/a.png", "https://user:pw@cdn.example.com/a.png",
    "https://cdn.example.com/" + "a" * 2100,
])
@pytest.mark.parametrize("field", ["avatarUrl", "imageUrl"])
def test_unsafe_pictures_are_refused_with_400_and_store_nothing(server: HeraldServer, user_id: str,
                                                               field: str, url: str) -> None:
    response = post(server, user_id + "x", **{field: url})
    assert response.status_code == 400, (field, url, response.text)
    body = response.json()
    assert set(body) == {"error", "message"} and body["error"] in ("invalid_request", "validation_failed")
    assert field in body["message"] or "avatar_url" in body["message"] or "image_url" in body["message"]
    assert httpx.get(server.url + "/api/notifications",
                     headers={"Authorization": f"Bearer {server.token(user_id + 'x')}"}).json()["items"] == []


def test_development_allows_loopback_pictures_and_production_refuses_them(fresh_server: HeraldServer) -> None:
    fresh_server.start()
    assert post(fresh_server, "dev-user", avatarUrl="http://127.0.0.1:9/a.png").status_code == 202
    fresh_server.stop()
    fresh_server.env.update(HERALD_ENV="production")
    fresh_server.start()
    for url in ("http://127.0.0.1:9/a.png", "https://localhost/a.png", "https://[::1]/a.png"):
        response = post(fresh_server, "prod-user", imageUrl=url)
        assert response.status_code == 400, url
        assert response.json()["error"] == "invalid_request"
    assert post(fresh_server, "prod-user", imageUrl=IMAGE).status_code == 202


async def test_live_channel_events_carry_the_pictures_too(server: HeraldServer, user_id: str) -> None:
    channel = f"pics-{user_id}"
    async with open_stream(server.url, server.token(user_id), query=f"?channels={channel}") as stream:
        await stream.until("ready")
        response = httpx.post(server.url + "/api/publish", headers=server.headers(), json={
            "to": {"channel": channel}, "persist": False, "type": "reaction", "title": "❤", "imageUrl": IMAGE})
        assert response.status_code == 202, response.text
        event = (await stream.until("channel")).json()
    assert event["imageUrl"] == IMAGE and "avatarUrl" not in event
