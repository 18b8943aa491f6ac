"""Fixtures of the Python client's tests: a real Herald, the client's own producer, and the runtimes."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from herald_client import Herald

from tests.herald_server import HeraldServer
from tests.integration.python_client.cases import CONNECTIONS_PER_USER
from tests.integration.python_client.runtimes import CPythonRuntime, NodeRuntime, Runtime


@pytest.fixture(scope="session")
def herald(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeraldServer]:
    """One SQLite server for the client's tests (it speaks HTTP: the database behind it is the server's concern)."""
    server = HeraldServer(tmp_path_factory.mktemp("herald-python-client"),
                          HERALD_CONNECTIONS_PER_USER=str(CONNECTIONS_PER_USER)).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def producer(herald: HeraldServer) -> Iterator[Herald]:
    with Herald(herald.url, herald.api_key) as client:
        yield client


@pytest.fixture(scope="module", params=["cpython", "node"])
def runtime(request: pytest.FixtureRequest) -> Iterator[Runtime]:
    """Pyodide loads once per module in Node (about 3 s), not once per test."""
    started = CPythonRuntime() if request.param == "cpython" else NodeRuntime()
    yield started
    started.close()


@pytest.fixture
def private_herald(tmp_path: Path) -> Iterator[HeraldServer]:
    """A server of the test's own, configured by the test before it starts it."""
    server = HeraldServer(tmp_path / "herald")
    yield server
    server.stop()
