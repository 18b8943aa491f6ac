"""Identity: subscriber tokens, the session cookie, and every way a credential can be wrong."""
from __future__ import annotations

import time

import httpx
import jwt
import pytest

from tests.herald_server import SECRET, HeraldServer

PUSH_BODY = {"endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": {"p256dh": "x", "auth": "y"}}
# Every route that acts for a subscriber (the WebSocket is tested below, its refusal is a close code).
SUBSCRIBER_ENDPOINTS = [
    ("GET", "/api/notifications", None),
    ("GET", "/api/notifications/stream", None),
    ("GET", "/api/notifications/poll?timeout=0", None),
    ("POST", "/api/notifications/read-all", None),
    ("POST", "/api/notifications/01ABC/read", None),
    ("POST", "/api/push/subscriptions", PUSH_BODY),
    ("DELETE", "/api/push/subscriptions", {"endpoint": PUSH_BODY["endpoint"]}),
    ("POST", "/api/session", None),
]
CREDENTIALS = ["none", "expired", "forged", "wrong_kind", "wrong_issuer", "alg_none", "garbage",
               "cookie_forged", "cookie_expired", "cookie_holding_a_subscriber_token"]


def forge(user: str, *, secret: str = SECRET, aud: str = "herald:subscriber", exp_in: int = 3600, alg: str = "HS256") -> str:
    now = int(time.time())
    return jwt.encode({"sub": user, "iat": now, "exp": now + exp_in, "iss": "herald", "aud": aud}, secret, algorithm=alg)


def test_minted_token_reads_the_inbox_and_states_its_expiry(server: HeraldServer, user_id: str) -> None:
    response = httpx.post(server.url + "/api/tokens", json={"userId": user_id, "ttlSeconds": 600}, headers=server.headers())
    assert response.status_code == 200
    body = response.json()
    assert body["expiresAt"].endswith("Z")
    inbox = httpx.get(server.url + "/api/notifications", headers={"Authorization": f"Bearer {body['token']}"})
    assert inbox.status_code == 200


def bad_credential(user_id: str, credential: str) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, cookies) carrying one wrong credential for ``user_id``."""
    now = int(time.time())
    tokens = {
        "none": None,
        "expired": forge(user_id, exp_in=-10),
        "forged": forge(user_id, secret="not-the-server-secret-at-all-0000"),
        "wrong_kind": forge(user_id, aud="herald:session"),
        "wrong_issuer": jwt.encode({"sub": user_id, "iat": now, "exp": now + 60, "iss": "someone-else",
                                    "aud": "herald:subscriber"}, SECRET, algorithm="HS256"),
        "alg_none": jwt.encode({"sub": user_id, "exp": now + 60, "iss": "herald", "aud": "herald:subscriber"}, None, algorithm="none"),
        "garbage": "not.a.token",
    }
    cookies = {
        "cookie_forged": forge(user_id, secret="not-the-server-secret-at-all-0000", aud="herald:session"),
        "cookie_expired": forge(user_id, aud="herald:session", exp_in=-10),
        "cookie_holding_a_subscriber_token": forge(user_id),  # the other kind: a Bearer token is not a session
    }
    if credential in cookies:
        return {}, {"herald_session": cookies[credential]}
    token = tokens[credential]
    return ({"Authorization": f"Bearer {token}"} if token else {}), {}


@pytest.mark.parametrize("method,path,body", SUBSCRIBER_ENDPOINTS)
@pytest.mark.parametrize("credential", CREDENTIALS)
def test_subscriber_endpoints_refuse_bad_credentials_with_401(server: HeraldServer, user_id: str, method: str, path: str,
                                                              body: dict | None, credential: str) -> None:
    headers, cookies = bad_credential(user_id, credential)
    with httpx.Client(cookies=cookies) as client:
        response = client.request(method, server.url + path, headers=headers, json=body)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "unauthorized"


@pytest.mark.parametrize("credential", CREDENTIALS)
def test_the_websocket_refuses_bad_credentials_with_close_code_4401(server: HeraldServer, user_id: str, credential: str) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    headers, cookies = bad_credential(user_id, credential)
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    with connect(server.url.replace("http", "ws") + "/api/notifications/ws", additional_headers=headers) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_session_cookie_is_httponly_samesite_and_works_instead_of_bearer(server: HeraldServer, user_id: str) -> None:
    server.publish(to={"users": [user_id]}, type="t", title="via cookie")
    with httpx.Client(base_url=server.url) as browser:
        response = browser.post("/api/session", headers={"Authorization": f"Bearer {server.token(user_id)}"})
        assert response.status_code == 200 and response.json()["userId"] == user_id
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
        assert browser.get("/api/notifications").json()["items"][0]["title"] == "via cookie"
        assert browser.delete("/api/session").status_code == 204
        assert browser.get("/api/notifications").status_code == 401


def test_session_cookie_value_is_not_a_bearer_token(server: HeraldServer, user_id: str) -> None:
    response = httpx.post(server.url + "/api/session", headers={"Authorization": f"Bearer {server.token(user_id)}"})
    session = response.cookies["herald_session"]
    refused = httpx.get(server.url + "/api/notifications", headers={"Authorization": f"Bearer {session}"})
    assert refused.status_code == 401


def test_session_needs_a_valid_subscriber_token(server: HeraldServer, user_id: str) -> None:
    for headers in ({}, {"Authorization": f"Bearer {forge(user_id, exp_in=-5)}"}, {"Authorization": f"Bearer {server.api_key}"}):
        response = httpx.post(server.url + "/api/session", headers=headers)
        assert (response.status_code, response.json()["error"]) == (401, "unauthorized")


@pytest.mark.parametrize("body", [{"userId": ""}, {"userId": "a b"}, {"userId": "u", "ttlSeconds": 10},
                                  {"userId": "u", "ttlSeconds": 10**9}, {"user": "u"}])
def test_token_requests_are_validated(server: HeraldServer, body: dict) -> None:
    response = httpx.post(server.url + "/api/tokens", json=body, headers=server.headers())
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


def test_tokens_need_an_api_key(server: HeraldServer) -> None:
    assert httpx.post(server.url + "/api/tokens", json={"userId": "u"}).status_code == 401
