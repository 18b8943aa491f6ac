"""A real Herald server in a child process, for integration and end-to-end tests.

Tests talk to it over HTTP exactly as a product backend or a browser would.
The database is either a fresh SQLite file or a fresh PostgreSQL database.
"""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

API_KEY = "test-producer-key-0123456789"
SECRET = "test-secret-0123456789-abcdefghijklmnop"
POSTGRES_ADMIN_URL = os.environ.get("HERALD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def run_async(coroutine: Any) -> Any:
    """Run a coroutine to completion from a sync test, whether or not some loop is running here."""
    import asyncio
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_postgres_database() -> str:
    """Create an empty database for one test session; returns its SQLAlchemy async URL."""
    name = f"herald_test_{os.getpid()}_{secrets.token_hex(3)}"
    _psql(f'CREATE DATABASE "{name}"')
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _psql(sql: str) -> None:
    subprocess.run(["psql", POSTGRES_ADMIN_URL, "-q", "-c", sql], check=True, capture_output=True)


class HeraldServer:
    """Start, stop, kill and restart one ``herald serve`` process on a fixed port and database."""

    def __init__(self, data_dir: Path, database_url: str = "", *args: str, **env: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = API_KEY
        self.env = {
            **os.environ,
            "HERALD_DATA_DIR": str(data_dir),
            "HERALD_PORT": str(self.port),
            "HERALD_API_KEYS": API_KEY,
            "HERALD_SECRET": SECRET,
            "HERALD_DATABASE_URL": database_url,
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.args = list(args)
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"

    def start(self) -> "HeraldServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "herald.cli", "serve", *self.args], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"herald exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"herald did not become ready:\n{self.log_path.read_text()[-3000:]}")

    def kill_group(self) -> None:
        """kill -9 the server and any worker processes it started."""
        if self.process and self.process.poll() is None:
            for child in _children(self.process.pid):
                os.kill(child, signal.SIGKILL)
        self.kill()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    # Producer-side helpers, as a product backend would call them.

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def publish(self, **body: Any) -> dict[str, Any]:
        response = httpx.post(self.url + "/api/publish", json=body, headers=self.headers(), timeout=30)
        assert response.status_code == 202, response.text
        return response.json()

    def sql(self, statement: str, **params: Any) -> list[tuple[Any, ...]]:
        """Rows of a query on the server's own database (SQLite file or PostgreSQL), for asserting stored state."""
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        url = self.env["HERALD_DATABASE_URL"] or f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'herald.db'}"

        async def query() -> list[tuple[Any, ...]]:
            engine = create_async_engine(url)
            try:
                async with engine.connect() as conn:
                    return [tuple(row) for row in await conn.execute(text(statement), params)]
            finally:
                await engine.dispose()

        return run_async(query())

    def token(self, user_id: str, ttl_seconds: int = 3600) -> str:
        response = httpx.post(self.url + "/api/tokens", json={"userId": user_id, "ttlSeconds": ttl_seconds},
                              headers=self.headers(), timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["token"]


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class RedisServer:
    """A private redis-server, so tests may stop and restart it without touching the shared one."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None
