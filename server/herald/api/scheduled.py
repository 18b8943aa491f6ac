"""Scheduled publishes (``sendAt``): list the pending ones, cancel by id or by replace key.

Any producer key of this Herald may see and cancel any scheduled publish, as with groups: the keys belong
to one product, and a key rotated out must not strand what it scheduled. docs/scheduling.md.
"""
from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from herald.api.auth import producer_dependency, services
from herald.api.guards import json_body
from herald.errors import not_found
from herald.schedule import Scheduled, iso
from herald.wire import Target

# A path parameter bounded in the schema, so a fuzzer's (or a client's) 10 KB id is a 400, not a scan.
ScheduledId = Annotated[str, Parameter(max_length=64)]
ID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")  # a ULID, as new_id makes them
MAX_PAGE = 200


class ScheduledItem(msgspec.Struct, rename="camel"):
    id: str
    """The id the notification will have once sent."""
    status: str
    """pending, sent, cancelled or failed."""
    send_at: str
    created_at: str
    producer: str
    """The fingerprint of the API key (or ``admin:<name>``) that scheduled it."""
    replace_key: str | None
    request: dict[str, Any]
    """The publish request as it was accepted."""
    finished_at: str | None = None
    error: str | None = None
    """Why a failed one was not sent (its group was deleted meanwhile, say)."""


class ScheduledPage(msgspec.Struct):
    items: list[ScheduledItem]
    cursor: str | None
    """Pass as ``after`` for the next page; null on the last one."""


class CancelRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    replace_key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    to: Target | None = None
    """Only those scheduled for exactly this target (users in any order); absent: every one with the key."""


class CancelResponse(msgspec.Struct):
    cancelled: list[str]


def item(row: Scheduled) -> ScheduledItem:
    return ScheduledItem(row.id, row.status, iso(row.send_at), iso(row.created_at), row.producer, row.replace_key,
                         row.request, iso(row.finished_at) if row.finished_at is not None else None, row.error)


class ScheduledController(Controller):
    path = "/api/scheduled"
    dependencies = producer_dependency
    tags = ["producer"]

    @get("/")
    async def list_pending(self, request: Request, producer: str,
                           limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE)] = 50,
                           after: Annotated[str | None, Parameter(max_length=64)] = None,
                           replace_key: Annotated[str | None, Parameter(query="replaceKey", max_length=200)] = None,
                           ) -> ScheduledPage:
        """Pending scheduled publishes, soonest first."""
        rows = await services(request).scheduler.pending(limit, after, replace_key)
        return ScheduledPage([item(row) for row in rows], rows[-1].cursor if len(rows) == limit else None)

    @get("/{scheduled_id:str}", raises=[NotFoundException])
    async def get_one(self, request: Request, scheduled_id: ScheduledId, producer: str) -> ScheduledItem:
        """One scheduled publish, whatever its status (finished ones are kept a day)."""
        row = await services(request).scheduler.get(scheduled_id) if ID_RE.match(scheduled_id) else None
        if row is None:
            raise not_found("No such scheduled notification.")
        return item(row)

    @delete("/{scheduled_id:str}", status_code=HTTP_204_NO_CONTENT, raises=[NotFoundException])
    async def cancel(self, request: Request, scheduled_id: ScheduledId, producer: str) -> None:
        """Cancel a pending scheduled publish; 404 once it is sent (or unknown, or cancelled already)."""
        scheduler = services(request).scheduler
        if not ID_RE.match(scheduled_id) or await scheduler.cancel(scheduled_id, producer) is None:
            raise not_found("No pending scheduled notification with this id: unknown, sent or cancelled already.")

    @post("/cancel", status_code=HTTP_200_OK, guards=[json_body], raises=[NotFoundException])
    async def cancel_by_key(self, request: Request, data: CancelRequest, producer: str) -> CancelResponse:
        """Cancel every pending scheduled publish with this replace key (and this ``to``, when given)."""
        ids = await services(request).scheduler.cancel_by_key(data.replace_key, data.to, producer)
        if not ids:
            raise not_found(f"No pending scheduled notification with the replace key {data.replace_key[:200]!r}"
                            + (" for this target." if data.to is not None else "."))
        return CancelResponse(ids)
