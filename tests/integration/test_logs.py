"""Logs: JSON lines or readable text, a request id on every request, and no secret in any line."""
from __future__ import annotations

import json
import re

import httpx
import websockets

from tests.herald_server import SECRET, HeraldServer


def test_a_sane_request_id_is_kept_and_anything_else_replaced(fresh_server: HeraldServer) -> None:
    fresh_server.start()
    kept = httpx.get(fresh_server.url + "/healthz", headers={"X-Request-ID": "edge-7f3a.91:b"})
    assert kept.headers["x-request-id"] == "edge-7f3a.91:b"
    for insane in ("a b", "x" * 129, "<script>", "id\u00e9"):
        replaced = httpx.get(fresh_server.url + "/healthz", headers={"X-Request-ID": insane.encode("utf-8")})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"]), insane
    # Answers that match no route, and errors, carry one too.
    missing = httpx.get(fresh_server.url + "/no/such/path", headers={"X-Request-ID": "trace-404"})
    assert missing.status_code == 404 and missing.headers["x-request-id"] == "trace-404"
    fresh_server.stop()
    text = fresh_server.log_path.read_text()
    # The development format: readable, the id in brackets on the access line.
    assert re.search(r"INFO uvicorn\.access \[trace-404\] .*GET /no/such/path HTTP/1\.1\" 404", text), text[-2000:]


async def test_json_logs_hold_no_key_token_or_cookie_even_on_errors(fresh_server: HeraldServer) -> None:
    fresh_server.env["HERALD_LOG_FORMAT"] = "json"
    fresh_server.start()
    url, key = fresh_server.url, fresh_server.api_key
    token = fresh_server.token("logged-user")
    session = httpx.post(url + "/api/session", headers={"Authorization": f"Bearer {token}"})
    cookie = session.cookies["herald_session"]
    as_key = {"Authorization": f"Bearer {key}", "X-Request-ID": "trace-json-1"}
    with httpx.Client(base_url=url, timeout=10) as client:
        client.post("/api/publish", headers={**as_key, "Content-Type": "application/json"}, content=b"{not json")
        client.post("/api/publish", headers=as_key, json={"to": {"users": ["x"]}, "type": "t", "title": ""})
        client.get("/api/nope", headers=as_key)
        client.get("/api/notifications", params={"since": "not-a-cursor"}, headers={"Authorization": f"Bearer {token}"})
        client.get("/api/notifications", headers={"Cookie": f"herald_session={cookie}"})
        client.get("/api/notifications", headers={"Cookie": f"herald_session={cookie}tampered"})
        client.get("/api/notifications", headers={"Authorization": f"Bearer {token}x"})
        # A client that puts its token in the URL against the rules: the access log must not repeat it.
        client.get("/api/notifications", params={"token": token})
        client.get("/api/notifications/stream", params={"lastEventId": "-1"}, headers={"Authorization": f"Bearer {token}"})
    async with websockets.connect(url.replace("http://", "ws://") + "/api/notifications/ws",
                                  additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        await ws.send("not json either")
        await ws.wait_closed()
    fresh_server.stop()
    text = fresh_server.log_path.read_text()
    for secret in (key, token, cookie, SECRET):
        assert secret not in text
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message", "request_id"} <= set(line) for line in lines)
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert any(line["request_id"] == "trace-json-1" and "POST /api/publish" in line["message"] for line in access)
    assert any("token=[redacted]" in line["message"] for line in access)


def test_no_access_lines_when_the_access_log_is_off(fresh_server: HeraldServer) -> None:
    fresh_server.env["HERALD_ACCESS_LOG"] = "false"
    fresh_server.start()
    missing = httpx.get(fresh_server.url + "/no/such/path", headers={"X-Request-ID": "trace-quiet"})
    assert missing.status_code == 404
    fresh_server.stop()
    text = fresh_server.log_path.read_text()
    assert "uvicorn.access" not in text and "trace-quiet" not in text, text[-2000:]
    assert "Application startup complete" in text, "uvicorn's own lines are still there"
