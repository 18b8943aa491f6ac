"""Presence across nodes with Redis: a tab visible on one node spares alerts for items published on another."""
from __future__ import annotations

import asyncio

import httpx

from tests.herald_server import HeraldServer
from tests.integration.test_cluster import cluster  # noqa: F401 - the fixture: two nodes, one Redis, PostgreSQL
from tests.sse_client import open_stream


async def test_a_visible_tab_on_one_node_is_seen_by_a_publish_on_the_other(
        cluster: tuple[HeraldServer, HeraldServer], user_id: str) -> None:  # noqa: F811 - the fixture
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
