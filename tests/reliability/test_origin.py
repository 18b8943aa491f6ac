"""The session cookie works only for pages of Herald's own origin or of HERALD_CORS_ORIGINS (fault 5 of issue 15).

A WebSocket handshake has no CORS preflight, and neither has a body-less POST
such as ``read-all``: with ``Origin: https://evil.example`` and the cookie, a
socket got ``ready`` and the user's stream. Browsers do not send a
``SameSite=Lax`` cookie cross-site, so the real exposure is another origin of
the same site (a sibling subdomain), which a test can stand in for with any
foreign ``Origin`` header.
"""
from __future__ import annotations

import json

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.herald_server import HeraldServer

SIBLING = "https://evil.example.com"


def session_cookie(server: HeraldServer, user_id: str) -> str:
    answer = httpx.post(server.url + "/api/session", headers={"Authorization": f"Bearer {server.token(user_id)}"})
    return answer.cookies["herald_session"]


async def handshake(server: HeraldServer, headers: dict[str, str]) -> tuple[str | None, int | None]:
    """The first message's type, or the close code when the socket is closed instead."""
    url = server.url.replace("http://", "ws://") + "/api/notifications/ws"
    async with websockets.connect(url, additional_headers=headers) as ws:
        try:
            await ws.send(json.dumps({"type": "resume"}))
            return json.loads(await ws.recv())["type"], None
        except ConnectionClosed as closed:
            return None, closed.rcvd.code if closed.rcvd else None


async def test_a_socket_from_a_foreign_origin_is_closed_before_any_event(server: HeraldServer, user_id: str) -> None:
    cookie = {"Cookie": f"herald_session={session_cookie(server, user_id)}"}
    assert await handshake(server, {**cookie, "Origin": SIBLING}) == (None, 4403)
    assert await handshake(server, {**cookie, "Origin": "null"}) == (None, 4403)
    # A token does not make a foreign page's socket welcome: a browser page cannot set the header anyway.
    bearer = {"Authorization": f"Bearer {server.token(user_id)}"}
    assert await handshake(server, {**bearer, "Origin": SIBLING}) == (None, 4403)


async def test_own_origin_and_non_browser_clients_keep_working(server: HeraldServer, user_id: str) -> None:
    cookie = {"Cookie": f"herald_session={session_cookie(server, user_id)}"}
    assert await handshake(server, {**cookie, "Origin": server.url}) == ("ready", None)
    assert await handshake(server, {"Authorization": f"Bearer {server.token(user_id)}"}) == ("ready", None)


async def test_a_listed_origin_may_open_a_socket_with_the_cookie(fresh_server: HeraldServer, user_id: str) -> None:
    fresh_server.env["HERALD_CORS_ORIGINS"] = "https://app.example.com"
    fresh_server.start()
    cookie = {"Cookie": f"herald_session={session_cookie(fresh_server, user_id)}"}
    assert await handshake(fresh_server, {**cookie, "Origin": "https://app.example.com"}) == ("ready", None)
    assert await handshake(fresh_server, {**cookie, "Origin": SIBLING}) == (None, 4403)


@pytest.mark.parametrize("path", ["/api/notifications/read-all", "/api/notifications/{item}/read"])
def test_a_cookie_post_from_a_foreign_origin_is_refused_and_changes_nothing(server: HeraldServer, user_id: str,
                                                                         path: str) -> None:
    item = server.publish(to={"users": [user_id]}, type="t", title="keep me unread")["id"]
    cookie = {"Cookie": f"herald_session={session_cookie(server, user_id)}"}
    refused = httpx.post(server.url + path.format(item=item), headers={**cookie, "Origin": SIBLING})
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    token = {"Authorization": f"Bearer {server.token(user_id)}"}
    assert httpx.get(server.url + "/api/notifications", headers=token).json()["unreadCount"] == 1
    # The page's own origin, and a Bearer token from anywhere (not ambient), still work.
    assert httpx.post(server.url + path.format(item=item), headers={**cookie, "Origin": server.url}).status_code == 200
    assert httpx.post(server.url + "/api/notifications/read-all", headers={**token, "Origin": SIBLING}).status_code == 200


def test_reading_with_the_cookie_needs_no_origin_check(server: HeraldServer, user_id: str) -> None:
    # A GET changes nothing, and CORS keeps its answer from a foreign page: it stays as it was.
    cookie = {"Cookie": f"herald_session={session_cookie(server, user_id)}"}
    assert httpx.get(server.url + "/api/notifications", headers={**cookie, "Origin": SIBLING}).status_code == 200
