"""Token buckets: one contract, both implementations (memory, and the real Redis at 127.0.0.1:6379)."""
from __future__ import annotations

from pathlib import Path

import httpx

from tests.herald_server import HeraldServer, RedisServer, create_postgres_database, drop_postgres_database


def test_two_herald_processes_sharing_redis_share_every_limit(tmp_path: Path) -> None:
    redis = RedisServer().start()
    database = create_postgres_database()
    shared = {"HERALD_REDIS_URL": redis.url, "HERALD_PUBLISH_RATE_PER_SECOND": "0.05", "HERALD_PUBLISH_BURST": "4",
              "HERALD_CONNECT_ADDRESS_RATE_PER_SECOND": "0.05", "HERALD_CONNECT_ADDRESS_BURST": "2"}
    a = HeraldServer(tmp_path / "a", database, **shared).start()
    b = HeraldServer(tmp_path / "b", database, HERALD_MIGRATE_ON_START="false", **shared).start()
    try:
        body = {"to": {"users": ["shared-limit"]}, "type": "t", "title": "x"}

        def publish(node: HeraldServer) -> int:
            return httpx.post(node.url + "/api/publish", json=body, headers=node.headers(), timeout=10).status_code

        # Four for the key in all, whichever node takes them; alone, each node would allow four.
        assert [publish(a), publish(b), publish(a), publish(b)] == [202] * 4
        assert [publish(a), publish(b)] == [429, 429]

        def connect(node: HeraldServer) -> int:
            return httpx.get(node.url + "/api/notifications/stream", timeout=10).status_code

        assert [connect(a), connect(b), connect(a), connect(b)] == [401, 401, 429, 429]
    finally:
        a.stop()
        b.stop()
        redis.stop()
        drop_postgres_database(database)
