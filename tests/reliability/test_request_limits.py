"""Request size limits on every route: a 413 with the contract's body, decided before the body is read.

Routes that take a body refuse one over ``HERALD_MAX_BODY_BYTES`` (64 KiB; 2 MiB for a group's
members), whether it arrives with a Content-Length, chunked, or as a Content-Length that claims more
than is sent. Routes that take no body never read one, so they hold none in memory either. A
WebSocket client message is bounded by the same limit.
"""
from __future__ import annotations

import json
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.admin_client import signed_in
from tests.herald_server import HeraldServer
from tests.raw_http import request

LIMIT = 64 * 1024
GROUP_LIMIT = 2 * 1024 * 1024
TOO_LARGE = {"error": "payload_too_large", "message": "The request body is too large."}
# The console's forms: a sign-in is small; a send or a group may list 10,000 users.
ADMIN_FORMS = {"/admin/login": 8 * 1024, "/admin/keys": LIMIT, "/admin/send": GROUP_LIMIT, "/admin/groups": GROUP_LIMIT}

pytestmark = pytest.mark.parametrize("server", ["sqlite"], indirect=True)  # size checks do not touch the database


def body_routes(server: HeraldServer) -> list[tuple[str, str, str]]:
    """(method, path, role) of every documented operation that takes a body."""
    document = httpx.get(server.url + "/schema/openapi.json").json()
    routes = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                concrete = path.replace("{name}", "limits").replace("{topic}", "t").replace("{user}", "u")
                role = "producer" if "producer" in operation.get("tags", []) else "subscriber"
                routes.append((method.upper(), concrete, role))
    return routes


def padded(size: int) -> bytes:
    """A JSON document of exactly ``size`` bytes."""
    return json.dumps({"pad": "x" * (size - 11)}).encode()


def credentials(server: HeraldServer, role: str) -> str:
    return f"Bearer {server.api_key if role == 'producer' else server.token('limits-user')}"


def test_every_route_with_a_body_refuses_one_over_the_limit(server: HeraldServer) -> None:
    routes = body_routes(server)
    assert {path for _, path, _ in routes} >= {"/api/publish", "/api/tokens", "/api/groups/limits", "/api/push/subscriptions"}
    for method, path, role in routes:
        limit = GROUP_LIMIT if path.startswith("/api/groups/") else LIMIT
        assert len(padded(limit + 1)) == limit + 1
        response = httpx.request(method, server.url + path, content=padded(limit + 1), timeout=30,
                                 headers={"Authorization": credentials(server, role), "Content-Type": "application/json"})
        assert (response.status_code, response.json()) == (413, TOO_LARGE), (method, path)
        at_limit = httpx.request(method, server.url + path, content=padded(limit), timeout=30,
                                 headers={"Authorization": credentials(server, role), "Content-Type": "application/json"})
        assert at_limit.status_code != 413, (method, path, "a body at the limit is read (and judged on its content)")


def test_a_content_length_claiming_too_much_is_refused_at_once(server: HeraldServer) -> None:
    for claimed in (LIMIT + 1, 10**9, 10**12):
        started = time.monotonic()
        response = request(server.port, "POST", "/api/publish", [
            ("Authorization", f"Bearer {server.api_key}"), ("Content-Type", "application/json"),
            ("Content-Length", str(claimed))], b"", timeout=5)
        assert (response.status, json.loads(response.body)) == (413, TOO_LARGE)
        assert time.monotonic() - started < 2, "refused from the header, without waiting for a body"


def test_a_chunked_body_over_the_limit_is_refused(server: HeraldServer) -> None:
    body = padded(LIMIT + 10_000)
    chunks = b"".join(b"%x\r\n%b\r\n" % (len(body[i:i + 8192]), body[i:i + 8192]) for i in range(0, len(body), 8192))
    response = request(server.port, "POST", "/api/publish", [
        ("Authorization", f"Bearer {server.api_key}"), ("Content-Type", "application/json"),
        ("Transfer-Encoding", "chunked")], chunks + b"0\r\n\r\n")
    assert (response.status, json.loads(response.body)) == (413, TOO_LARGE)


def test_admin_forms_refuse_a_body_over_the_limit(server: HeraldServer) -> None:
    admin = signed_in(server, "limits-admin")  # with its session and CSRF token, only the size can refuse
    for path, limit in ADMIN_FORMS.items():
        response = admin.http.post(path, content=b"title=" + b"x" * (limit - 5), timeout=30, headers={
            "Content-Type": "application/x-www-form-urlencoded", "x-csrf-token": admin.csrf})
        assert response.status_code == 413, path  # an HTML page: the console's own error view
    admin.close()


def test_a_websocket_message_over_the_limit_closes_the_connection(server: HeraldServer) -> None:
    url = server.url.replace("http://", "ws://") + "/api/notifications/ws"
    with connect(url, additional_headers={"Authorization": credentials(server, "subscriber")}, max_size=None) as ws:
        ws.send(json.dumps({"type": "resume"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        # The largest legitimate message, 500 ids of 64 characters, is well under the limit and answered.
        ws.send(json.dumps({"type": "read", "ids": ["x" * 64] * 500}))
        assert json.loads(ws.recv(timeout=10)) == {"type": "error", "error": "not_found",
                                                   "message": "No such notification in your inbox."}
        ws.send(json.dumps({"type": "ack", "ids": [], "pad": "x" * LIMIT}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # "message too big"
