"""Several Herald processes over Redis and PostgreSQL: real processes, real faults."""
from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.herald_server import HeraldServer, RedisServer, create_postgres_database, drop_postgres_database
from tests.sse_client import open_stream


def _vapid_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture
def cluster(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[HeraldServer, HeraldServer]]:
    database = create_postgres_database()
    # Nodes of one cluster share their configuration, the Web Push key included.
    shared = {"HERALD_REDIS_URL": redis_server.url, "HERALD_VAPID_PRIVATE_KEY": _vapid_key()}
    a = HeraldServer(tmp_path / "a", database, **shared).start()
    b = HeraldServer(tmp_path / "b", database, HERALD_MIGRATE_ON_START="false", **shared).start()
    yield a, b
    a.stop()
    b.stop()
    drop_postgres_database(database)


async def test_published_on_one_node_arrives_on_the_other(cluster: tuple[HeraldServer, HeraldServer], user_id: str) -> None:
    a, b = cluster
    async with open_stream(b.url, b.token(user_id)) as on_b, open_stream(a.url, a.token(user_id)) as on_a:
        await on_b.until("ready")
        await on_a.until("ready")
        sent = a.publish(to={"users": [user_id]}, type="t", title="cross-node")["id"]
        assert (await on_b.until("notification")).json()["id"] == sent
        assert (await on_a.until("notification")).json()["id"] == sent
        # Read state crosses nodes too.
        httpx.post(f"{b.url}/api/notifications/{sent}/read", headers={"Authorization": f"Bearer {b.token(user_id)}"})
        assert (await on_a.until("read")).json() == {"ids": [sent], "unreadCount": 0}


async def test_a_live_event_published_on_one_node_reaches_subscribers_on_the_other(
        cluster: tuple[HeraldServer, HeraldServer], user_id: str) -> None:
    a, b = cluster
    async with open_stream(b.url, b.token(user_id), query="?channels=match-7") as on_b:
        await on_b.until("ready")
        sent = httpx.post(a.url + "/api/publish", headers=a.headers(), json={
            "to": {"channel": "match-7"}, "persist": False, "type": "score", "title": "2-1"}).json()["id"]
        assert (await on_b.until("channel")).json()["id"] == sent


async def test_kill_9_of_a_node_mid_stream_loses_nothing_on_resume_elsewhere(cluster: tuple[HeraldServer, HeraldServer], user_id: str) -> None:
    a, b = cluster
    total = 1000
    token = a.token(user_id)
    published: list[str] = []

    def publish_all() -> None:
        with httpx.Client(base_url=a.url, headers=a.headers(), timeout=30) as client:
            for i in range(total):
                response = client.post("/api/publish", json={"to": {"users": [user_id]}, "type": "t", "title": f"#{i}"})
                assert response.status_code == 202
                published.append(response.json()["id"])

    received: list[str] = []
    async with open_stream(b.url, token, last_event_id="0") as on_b:
        await on_b.until("ready")
        producer = threading.Thread(target=publish_all)
        producer.start()
        while len(received) < 200:
            received.append((await on_b.until("notification", timeout=15)).json()["id"])
        cursor = on_b.last_event_id
        b.kill_group()
    async with open_stream(a.url, token, last_event_id=cursor) as on_a:
        await on_a.until("ready")
        while len(received) < total:
            received.append((await on_a.until("notification", timeout=15)).json()["id"])
    await asyncio.to_thread(producer.join)
    assert received == published


async def test_redis_down_for_a_while_loses_nothing(cluster: tuple[HeraldServer, HeraldServer], redis_server: RedisServer, user_id: str) -> None:
    a, b = cluster
    async with open_stream(b.url, b.token(user_id)) as on_b:
        await on_b.until("ready")
        first = a.publish(to={"users": [user_id]}, type="t", title="before")["id"]
        assert (await on_b.until("notification")).json()["id"] == first
        redis_server.stop()
        during = [a.publish(to={"users": [user_id]}, type="t", title=f"during {i}")["id"] for i in range(5)]
        ready = httpx.get(a.url + "/readyz")
        assert ready.status_code == 503, "readiness says degraded while the bus is down"
        live = httpx.post(a.url + "/api/publish", headers=a.headers(), json={
            "to": {"channel": "c"}, "persist": False, "type": "t", "title": "nowhere to go"})
        assert (live.status_code, live.json()["error"]) == (503, "unavailable"), "a live event kept nowhere is refused"
        assert "Retry-After" in live.headers
        await asyncio.sleep(3)
        redis_server.start()
        caught_up = [(await on_b.until("notification", timeout=20)).json()["id"] for _ in during]
        assert caught_up == during
        after = a.publish(to={"users": [user_id]}, type="t", title="after")["id"]
        assert (await on_b.until("notification", timeout=10)).json()["id"] == after


async def test_workers_share_fan_out(tmp_path: Path, redis_server: RedisServer, user_id: str) -> None:
    server = HeraldServer(tmp_path / "w", "", "--workers", "2", HERALD_REDIS_URL=redis_server.url).start()
    try:
        token = server.token(user_id)
        async with open_stream(server.url, token) as s1, open_stream(server.url, token) as s2, \
                open_stream(server.url, token) as s3, open_stream(server.url, token) as s4:
            streams = (s1, s2, s3, s4)
            for stream in streams:
                await stream.until("ready")
            sent = server.publish(to={"users": [user_id]}, type="t", title="to all workers")["id"]
            for stream in streams:
                assert (await stream.until("notification")).json()["id"] == sent
    finally:
        server.kill_group()


def test_more_than_one_worker_without_redis_is_refused(tmp_path: Path) -> None:
    server = HeraldServer(tmp_path / "x", "", "--workers", "2")
    with pytest.raises(RuntimeError, match="needs HERALD_REDIS_URL"):
        server.start()


async def test_presence_is_cluster_wide_for_the_push_fallback(cluster: tuple[HeraldServer, HeraldServer], user_id: str) -> None:
    from tests.fake_push_service import FakePushService

    a, b = cluster
    service = FakePushService().start()
    service.vapid_public_key = httpx.get(a.url + "/api/push/vapid-public-key").json()["publicKey"]
    assert httpx.get(b.url + "/api/push/vapid-public-key").json()["publicKey"] == service.vapid_public_key
    try:
        sub = service.subscription()
        response = httpx.post(a.url + "/api/push/subscriptions", json=sub.to_json(),
                              headers={"Authorization": f"Bearer {a.token(user_id)}"})
        assert response.status_code == 201, response.text
        async with open_stream(b.url, b.token(user_id)) as on_b:
            await on_b.until("ready")
            await asyncio.sleep(0.5)  # presence is written in batches
            sent = a.publish(to={"users": [user_id]}, type="t", title="seen on B", priority="urgent")["id"]
            assert (await on_b.until("notification")).json()["id"] == sent
            await asyncio.sleep(1.5)
            assert service.of(sub) == [], "a tab on node B counts as online for node A"
        await asyncio.sleep(0.5)
        later = a.publish(to={"users": [user_id]}, type="t", title="nobody home", priority="urgent")["id"]
        (push,) = await asyncio.to_thread(service.wait, sub, 1)
        assert push.message["notification"]["id"] == later
    finally:
        service.stop()


NGINX_CONF = """
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    upstream herald {{
        # Hash by session cookie or token: a user's reconnects land on the same node while it lives.
        hash $http_authorization$cookie_herald_session consistent;
        server 127.0.0.1:{a} max_fails=1 fail_timeout=2s;
        server 127.0.0.1:{b} max_fails=1 fail_timeout=2s;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_header_timeout 10s;
        large_client_header_buffers 4 16k;
        location /api/notifications/stream {{
            proxy_pass http://herald;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_buffering off;
            proxy_read_timeout 1h;
            proxy_next_upstream error timeout;
        }}
        location / {{
            proxy_pass http://herald;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_next_upstream error timeout;
        }}
    }}
}}
"""


def _open_streams(node: HeraldServer) -> float:
    import re

    text = httpx.get(node.url + "/metrics").text
    match = re.search(r'^herald_connections{transport="sse"} ([0-9.]+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


@pytest.fixture
def nginx(tmp_path: Path, cluster: tuple[HeraldServer, HeraldServer]) -> Iterator[str]:
    import shutil
    import subprocess
    import time

    if shutil.which("nginx") is None:
        pytest.fail("nginx is not installed (scripts/test.sh installs Debian's nginx)")
    from tests.herald_server import free_port

    a, b = cluster
    port = free_port()
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    (prefix / "nginx.conf").write_text(NGINX_CONF.format(prefix=prefix, a=a.port, b=b.port, port=port))
    process = subprocess.Popen(["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(10)


async def test_through_nginx_a_stream_survives_the_death_of_its_node(nginx: str, cluster: tuple[HeraldServer, HeraldServer], user_id: str) -> None:
    a, b = cluster
    token = a.token(user_id)
    published: list[str] = []
    received: list[str] = []
    async with open_stream(nginx, token, last_event_id="0") as first:
        await first.until("ready")
        for i in range(20):
            published.append(a.publish(to={"users": [user_id]}, type="t", title=f"#{i}")["id"])
        while len(received) < 10:
            received.append((await first.until("notification")).json()["id"])
        cursor = first.last_event_id
        serving = a if _open_streams(a) >= 1 else b
        assert _open_streams(serving) >= 1
    # The node that served the stream dies; the proxy sends the reconnect to the survivor.
    serving.kill_group()
    survivor = b if serving is a else a
    for i in range(20, 30):
        published.append(survivor.publish(to={"users": [user_id]}, type="t", title=f"#{i}")["id"])
    async with open_stream(nginx, token, last_event_id=cursor) as second:
        await second.until("ready")
        while len(received) < len(published):
            received.append((await second.until("notification", timeout=15)).json()["id"])
    assert received == published


async def test_the_admin_dashboard_counts_users_online_across_nodes(cluster: tuple[HeraldServer, HeraldServer],
                                                                    user_id: str) -> None:
    from tests.admin_client import signed_in
    from tests.eventually import eventually

    a, b = cluster
    admin = signed_in(a)
    both, only_b = user_id + "-both", user_id + "-b"
    async with open_stream(a.url, a.token(both)) as s1, open_stream(b.url, b.token(both)) as s2, \
            open_stream(b.url, b.token(only_b)) as s3:
        for stream in (s1, s2, s3):
            await stream.until("ready")

        def card() -> tuple[int, list[int]] | None:
            panel = admin.get("/admin/dashboard/panel").text
            match = re.search(r'Users online</h2>\s*<p class="value">([0-9,]+)</p>\s*<p class="note">across \d+ nodes? '
                              r'\(([^)]*)\)', panel)
            if match is None:
                return None
            nodes = sorted(int(node.split(": ")[1].replace(",", "")) for node in match.group(2).split(", "))
            return int(match.group(1).replace(",", "")), nodes

        # Presence is written in batches: wait for all three streams to show.
        assert eventually(lambda: card() == (2, [1, 2])), f"a user on both nodes counts once: {card()}"
    admin.close()


# Presence across nodes with Redis: a tab visible on one node spares alerts for items published on another.
async def test_a_visible_tab_on_one_node_is_seen_by_a_publish_on_the_other(
        cluster: tuple[HeraldServer, HeraldServer], user_id: str) -> None:
    a, b = cluster
    headers = {"Authorization": f"Bearer {b.token(user_id)}"}
    async with open_stream(b.url, b.token(user_id)) as on_b:
        await on_b.until("ready")
        await asyncio.sleep(0.3)  # nodes publish who is online in batches (architecture.md)
        assert httpx.post(f"{b.url}/api/presence", json={"client": "tab-b", "visible": True},
                          headers=headers).status_code == 204
        await asyncio.to_thread(a.publish, to={"users": [user_id]}, type="t", title="while looking")
        assert (await on_b.until("notification")).json()["watched"] == ["tab-b"]
        # Hidden, reported on the other node this time: the next item alerts again.
        assert httpx.post(f"{a.url}/api/presence", json={"client": "tab-b", "visible": False},
                          headers=headers).status_code == 204
        await asyncio.to_thread(a.publish, to={"users": [user_id]}, type="t", title="away")
        assert "watched" not in (await on_b.until("notification")).json()
