"""Every migration test runs on both databases: a fresh SQLite file and a fresh PostgreSQL database."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.herald_server import create_postgres_database, drop_postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'herald.db'}"
        return
    database_url = create_postgres_database()
    yield database_url
    drop_postgres_database(database_url)
