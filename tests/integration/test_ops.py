"""Operations endpoints: health, readiness, metrics that move, the OpenAPI document."""
from __future__ import annotations

import re

import httpx

from tests.herald_server import HeraldServer
from tests.sse_client import open_stream


def metric(server: HeraldServer, name: str, labels: str = "") -> float:
    text = httpx.get(server.url + "/metrics").text
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_health_and_readiness(server: HeraldServer) -> None:
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(server.url + "/readyz").status_code == 200


def test_readiness_is_503_with_retry_after_when_the_database_is_gone(fresh_server: HeraldServer) -> None:
    fresh_server.env["HERALD_DATABASE_URL"] = "postgresql+asyncpg://postgres@127.0.0.1:1/none"
    fresh_server.env["HERALD_MIGRATE_ON_START"] = "false"
    fresh_server.port  # the server starts even so: liveness must not depend on the database
    import subprocess
    import sys
    import time
    process = subprocess.Popen([sys.executable, "-m", "herald.cli", "serve"], env=fresh_server.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(fresh_server.url + "/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        ready = httpx.get(fresh_server.url + "/readyz", timeout=20)
        assert ready.status_code == 503
        assert ready.headers["retry-after"] and ready.json()["error"] == "unavailable"
        publish = httpx.post(fresh_server.url + "/api/publish", headers=fresh_server.headers(), timeout=30,
                             json={"to": {"users": ["u"]}, "type": "t", "title": "x"})
        assert publish.status_code == 503 and publish.headers["retry-after"]
        assert publish.json()["error"] == "unavailable"
    finally:
        process.kill()
        process.wait()


async def test_metrics_count_connections_publishes_and_deliveries(server: HeraldServer, user_id: str) -> None:
    before_publishes = metric(server, "herald_publishes_total", '{target="users"}')
    before_deliveries = metric(server, "herald_deliveries_total", '{transport="sse"}')
    before_latencies = metric(server, "herald_delivery_latency_seconds_count", '{transport="sse"}')
    async with open_stream(server.url, server.token(user_id)) as stream:
        await stream.until("ready")
        assert metric(server, "herald_connections", '{transport="sse"}') >= 1
        server.publish(to={"users": [user_id]}, type="t", title="count me")
        await stream.until("notification")
    assert metric(server, "herald_publishes_total", '{target="users"}') == before_publishes + 1
    assert metric(server, "herald_deliveries_total", '{transport="sse"}') >= before_deliveries + 1
    assert metric(server, "herald_delivery_latency_seconds_count", '{transport="sse"}') >= before_latencies + 1
    assert metric(server, "herald_delivery_latency_seconds_bucket", '{le="+Inf",transport="sse"}') >= before_latencies + 1


def test_openapi_document_lists_the_public_paths(server: HeraldServer) -> None:
    schema = httpx.get(server.url + "/schema/openapi.json").json()
    for path in ("/api/publish", "/api/tokens", "/api/session", "/api/notifications", "/api/notifications/stream",
                 "/api/notifications/read-all", "/api/groups/{name}", "/healthz", "/readyz"):
        assert path in schema["paths"], path


def test_unknown_paths_and_methods_get_the_error_body(server: HeraldServer) -> None:
    missing = httpx.get(server.url + "/api/nope")
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    wrong = httpx.put(server.url + "/api/publish")
    assert (wrong.status_code, wrong.json()["error"]) == (405, "method_not_allowed")


def test_static_files_are_gzipped_but_the_stream_is_not(server: HeraldServer, user_id: str) -> None:
    script = httpx.get(server.url + "/static/herald/store.js", headers={"Accept-Encoding": "gzip"})
    assert script.status_code == 200 and script.headers.get("content-encoding") == "gzip"
    with httpx.stream("GET", server.url + "/api/notifications/stream", headers={
            "Accept-Encoding": "gzip", "Authorization": f"Bearer {server.token(user_id)}"}) as stream:
        assert stream.status_code == 200
        assert "content-encoding" not in stream.headers
        assert next(stream.iter_lines()).startswith("retry:")
