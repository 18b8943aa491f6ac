"""The audit log: who sent what to whom, and who changed keys, groups and topic followers.

Rows are written by the admin's own actions (and ``herald admin``), after the
change they describe has committed; they are never updated or deleted here.
"""
from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.admin.pages import render
from herald.api.auth import services
from herald.db import Database
from herald.models import audit_log
from herald.wire import now_ms

PAGE = 100


async def record(db: Database, actor: str, action: str, subject: str, detail: dict[str, Any] | None = None) -> None:
    async with db.write() as conn:
        await record_in(conn, actor, action, subject, detail)


async def record_in(conn: AsyncConnection, actor: str, action: str, subject: str,
                    detail: dict[str, Any] | None = None) -> None:
    await conn.execute(audit_log.insert().values(at=now_ms(), actor=actor, action=action, subject=subject[:300],
                                                 detail=detail))


async def entries(db: Database, before: int | None = None, limit: int = PAGE) -> list[Any]:
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(audit_log.c.id < before)
    async with db.read() as conn:
        return list(await conn.execute(query))


class AuditController(Controller):
    path = "/audit"

    @get("/")
    async def page(self, request: Request, before: int | None = None) -> Response[str]:
        rows = await entries(services(request).db, before)
        older = rows[-1].id if len(rows) == PAGE else None
        return render(request, "audit.html", rows=rows, older=older, title="Audit log")
