"""Scheduled notifications in the admin: the pending ones, soonest first, each with a cancel button.

A cancel goes through the scheduler like ``DELETE /api/scheduled/{id}``: one that is being sent that very
moment is sent, and the page says it could not be cancelled. Cancels are audit-logged.
"""
from __future__ import annotations

from litestar import Controller, Request, Response, get, post

from herald.admin.audit import record
from herald.admin.pages import redirect, render
from herald.admin.send import describe_target
from herald.api.auth import services
from herald.errors import not_found
from herald.schedule import iso

PAGE = 100


class ScheduledController(Controller):
    path = "/scheduled"

    @get("/")
    async def page(self, request: Request, after: str | None = None, scheduled: str = "",
                   cancelled: str = "") -> Response[str]:
        s = services(request)
        rows = await s.scheduler.pending(PAGE, after or None)
        producers = {row.producer for row in rows}
        names = {p: f"{p[6:]} (admin)" for p in producers if p.startswith("admin:")}
        names.update(await s.keys.names(p for p in producers if p not in names))
        return render(request, "scheduled.html", title="Scheduled", rows=rows, senders=names,
                      targets={row.id: describe_target(row.target) for row in rows},
                      more=rows[-1].cursor if len(rows) == PAGE else None, scheduled=scheduled, cancelled=cancelled)

    @post("/{scheduled_id:str}/cancel")
    async def cancel(self, request: Request, scheduled_id: str, admin: str) -> Response[str]:
        s = services(request)
        row = await s.scheduler.cancel(scheduled_id[:26], f"admin:{admin}")
        if row is None:
            raise not_found("This scheduled notification is no longer pending: it was sent or cancelled already.")
        await record(s.db, admin, "scheduled.cancel", describe_target(row.target), {
            "scheduledId": row.id, "title": row.request.get("title"), "sendAt": iso(row.send_at)})
        return redirect(f"/admin/scheduled?cancelled={row.id}")
