"""Shared fixtures: real Herald servers on real databases, and a private Redis.

Helpers that are not fixtures live in modules of their own beside this file
(herald_server, sse_client, transports, admin_client, scrape, eventually, ...).
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Iterator

import pytest

from tests.herald_server import HeraldServer, RedisServer, create_postgres_database, drop_postgres_database

_users = itertools.count()


@pytest.fixture
def user_id(request: pytest.FixtureRequest) -> str:
    """A user id no other test uses, so tests sharing a server never see each other's items."""
    return f"u{next(_users)}-{abs(hash(request.node.nodeid)) % 100000}"


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeraldServer]:
    """One server per database for the session, shared by tests that use distinct user ids."""
    database_url = create_postgres_database() if request.param == "postgres" else ""
    herald = HeraldServer(tmp_path_factory.mktemp(f"herald-{request.param}"), database_url).start()
    yield herald
    herald.stop()
    if database_url:
        drop_postgres_database(database_url)


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[HeraldServer]:
    """A private SQLite server, for tests that restart or reconfigure it."""
    herald = HeraldServer(tmp_path / "herald")
    yield herald
    herald.stop()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server on a free port, so that a test may stop and start it."""
    server = RedisServer().start()
    yield server
    server.stop()
