"""Fixtures of the log consumer tests: a private log per test, Herald nodes on a fresh PostgreSQL database."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import asyncpg
import httpx
import pytest

from tests.herald_server import HeraldServer, create_postgres_database, drop_postgres_database
from tests.integration.consume.logs import LOGS, Log

# Small timeouts through settings, so faults resolve in seconds without sleeps in the tests.
FAST = {
    "HERALD_PUBLISH_RATE_PER_SECOND": "0",  # the log is the producer here; the HTTP rate limit is not under test
    "HERALD_CONSUME_LAG_INTERVAL_SECONDS": "0.2",
    "HERALD_CONSUME_POLL_SECONDS": "0.3",
    "HERALD_CONSUME_RETRY_BASE_SECONDS": "0.1",
    "HERALD_CONSUME_RETRY_MAX_SECONDS": "1",
}


@pytest.fixture(params=sorted(LOGS))
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Log]:
    made = LOGS[request.param](tmp_path / "log")
    yield made
    made.close()


@pytest.fixture
def herald_database() -> Iterator[str]:
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Callable[..., HeraldServer]]:
    """Start Herald nodes: ``nodes(database_url, log, **env)``; all are stopped after the test."""
    started: list[HeraldServer] = []

    def start(database_url: str, log: Log, **env: str) -> HeraldServer:
        first = not started
        # A stable name per node, as a deployment gives each (a pod name): restarted, it takes its own place back.
        node = HeraldServer(tmp_path / f"node{len(started)}", database_url,
                            **{**FAST, **log.env, "HERALD_CONSUME_NAME": f"node{len(started)}",
                               **({} if first else {"HERALD_MIGRATE_ON_START": "false"}), **env})
        started.append(node)
        return node.start()

    yield start
    for node in started:
        node.stop()
        if node.log_path.exists():  # shown by pytest when the test failed
            print(f"--- {node.data_dir.name} ---\n" + node.log_path.read_text()[-4000:])


class Inboxes:
    """What Herald wrote, read straight from its database: each user's titles in inbox order."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url.replace("postgresql+asyncpg://", "postgresql://")

    async def _fetch(self, sql: str) -> list[Any]:
        conn = await asyncpg.connect(self.url)
        try:
            return list(await conn.fetch(sql))
        finally:
            await conn.close()

    async def count(self) -> int:
        return int((await self._fetch("SELECT count(*) FROM inbox_items"))[0][0])

    async def titles(self) -> dict[str, list[str]]:
        rows = await self._fetch("SELECT i.user_id, n.title FROM inbox_items i JOIN notifications n "
                                 "ON n.id = i.notification_id ORDER BY i.user_id, i.seq")
        result: dict[str, list[str]] = {}
        for row in rows:
            result.setdefault(row[0], []).append(row[1])
        return result

    async def dead_letters(self) -> list[Any]:
        return await self._fetch("SELECT source, source_id, message_key, error, payload FROM consume_dead_letters ORDER BY id")

    async def until(self, count: int, timeout: float) -> float:
        """Wait until at least ``count`` items are in the inboxes; the seconds it took."""
        start = time.monotonic()
        while (have := await self.count()) < count:
            assert time.monotonic() - start < timeout, f"{have} of {count} inbox items after {timeout} s"
            await asyncio.sleep(0.02)
        return time.monotonic() - start


@pytest.fixture
def inboxes(herald_database: str) -> Inboxes:
    return Inboxes(herald_database)


def metric(node: HeraldServer, name: str, source: str, **labels: str) -> float | None:
    """A sample of ``/metrics`` with these labels; None when Herald has not reported it."""
    wanted = [f'source="{source}"'] + [f'{key}="{value}"' for key, value in labels.items()]
    for line in httpx.get(node.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name + "{") and all(label in line for label in wanted):
            return float(line.rsplit(" ", 1)[1])
    return None


async def eventually(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)
