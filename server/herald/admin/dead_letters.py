"""Dead letters of the log consumers: each message that could not be published, its error and its payload.

Read-only: a dead letter is fixed where it came from (the producer sends a
corrected message), and the page says so. The sources' current state (up,
paused, lag) heads the page, so an operator sees at once whether messages are
still flowing behind the dead ones.
"""
from __future__ import annotations

from litestar import Controller, Request, Response, get

from herald.admin.pages import render
from herald.api.auth import services
from herald.consume import statuses
from herald.consume.dead_letters import PAGE, DeadLetters


class DeadLettersController(Controller):
    path = "/dead-letters"

    @get("/")
    async def page(self, request: Request, before: int | None = None, source: str | None = None) -> Response[str]:
        s = services(request)
        store = DeadLetters(s.db)
        rows = await store.page(before, source or None)
        older = rows[-1].id if len(rows) == PAGE else None
        lags = {c.name: c.last_lag for c in s.consumers}
        return render(request, "dead_letters.html", title="Dead letters", rows=rows, older=older,
                      source=source or "", counts=await store.counts(), states=statuses(s.consumers), lags=lags)
