"""The error catalogue: every refusal is the contract's JSON body, named plainly, and documented in OpenAPI."""
from __future__ import annotations

import httpx


def _answer_to(exc: Exception) -> httpx.Response:
    """What the error catalogue answers when a handler raises ``exc``."""
    from litestar import Litestar, get
    from litestar.testing import TestClient

    from herald.api.errors import EXCEPTION_HANDLERS

    @get("/boom")
    async def boom() -> None:
        raise exc

    # No logging config of its own: the test process may have configured logging already (herald.logs).
    app = Litestar([boom], exception_handlers=EXCEPTION_HANDLERS, logging_config=None)
    with TestClient(app, raise_server_exceptions=False) as client:
        return client.get("/boom")


def test_a_connection_that_dies_under_a_query_is_a_503_with_retry_after() -> None:
    from sqlalchemy.exc import DBAPIError

    # What asyncpg's "connection was closed in the middle of operation" becomes in SQLAlchemy.
    died = DBAPIError("SELECT 1", {}, ConnectionResetError("closed in the middle of operation"),
                      connection_invalidated=True)
    response = _answer_to(died)
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert response.json()["error"] == "unavailable"
    other = _answer_to(DBAPIError("SELECT 1", {}, RuntimeError("a bug of ours")))
    assert other.status_code == 500 and other.json()["error"] == "internal_error"


class _PostgresError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


def test_postgres_out_of_resources_or_shutting_down_is_a_503() -> None:
    from sqlalchemy.exc import DBAPIError

    disk_full = _answer_to(DBAPIError("INSERT", {}, _PostgresError("53100")))
    assert disk_full.status_code == 503 and disk_full.headers["retry-after"] == "30"
    assert disk_full.json() == {"error": "unavailable", "message": "The database is out of disk space; try again later."}
    for sqlstate in ("53300", "57P01", "08006"):  # too many connections, admin shutdown, connection failure
        response = _answer_to(DBAPIError("SELECT 1", {}, _PostgresError(sqlstate)))
        assert (response.status_code, response.json()["error"]) == (503, "unavailable"), sqlstate


def test_a_database_that_does_not_answer_in_time_is_a_503() -> None:
    # asyncpg raises the builtin TimeoutError when its connect or command timeout runs out.
    response = _answer_to(TimeoutError())
    assert (response.status_code, response.json()["error"]) == (503, "unavailable")
    assert response.headers["retry-after"] == "5"
