"""The admin's dead-letter page: each poison message with its error, escaped, newest first, behind sign-in."""
from __future__ import annotations

import secrets

import httpx

from tests.admin_client import AdminClient
from tests.herald_server import HeraldServer, run_async


def add_dead_letter(server: HeraldServer, source: str, source_id: str, error: str, payload: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    url = server.env["HERALD_DATABASE_URL"] or f"sqlite+aiosqlite:///{server.data_dir.resolve() / 'herald.db'}"

    async def insert() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(
                    "INSERT INTO consume_dead_letters (source, source_id, message_key, payload, error, attempts, "
                    "created_at) VALUES (:s, :i, 'user7', :p, :e, 1, 1796000000000)"),
                    {"s": source, "i": source_id, "p": payload, "e": error})
        finally:
            await engine.dispose()

    run_async(insert())


def test_dead_letters_are_listed_with_their_error_and_payload_escaped(server: HeraldServer, admin: AdminClient) -> None:
    marker = secrets.token_hex(4)
    add_dead_letter(server, "kafka", f"kafka:t:0:{marker}", f"invalid_request: title too long {marker}",
                    '{"title": "<script>alert(1)</script>"}')
    page = admin.get("/admin/dead-letters")
    assert page.status_code == 200
    assert f"kafka:t:0:{marker}" in page.text and f"title too long {marker}" in page.text
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
    assert 'href="/admin/dead-letters"' in page.text  # in the navigation
    only_nats = admin.get("/admin/dead-letters", params={"source": "nats"})
    assert f"kafka:t:0:{marker}" not in only_nats.text and "Showing nats only" in only_nats.text


def test_dead_letters_need_an_admin_session(server: HeraldServer) -> None:
    response = httpx.get(server.url + "/admin/dead-letters", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/admin/login")
