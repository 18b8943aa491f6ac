"""Subscriber triage endpoints: counts per tab, state changes (one, many, or all within a filter), actions.

The list's own filters (``type``, ``archived``, ``read``, ``category``) are in api/inbox.py; both
build their filter here (``item_filter``), so a tab's count and its list select the same items.
"""
from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, post, get
from litestar.exceptions import NotFoundException
from litestar.params import Parameter

from herald.api.auth import reader_dependency, services
from herald.api.guards import json_body
from herald.errors import invalid_request
from herald.triage import MAX_IDS, MAX_PATTERNS, MAX_TABS, ItemFilter, StateChange, Tab, type_clause

ItemId = Annotated[str, Parameter(max_length=64)]
Pattern = Annotated[str, msgspec.Meta(min_length=1, max_length=101)]


class TabSpec(msgspec.Struct, forbid_unknown_fields=True):
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
    types: Annotated[list[Pattern], msgspec.Meta(max_length=MAX_PATTERNS)] = []
    categories: Annotated[list[Pattern], msgspec.Meta(max_length=MAX_PATTERNS)] = []


_decode_tabs = msgspec.json.Decoder(Annotated[list[TabSpec], msgspec.Meta(max_length=MAX_TABS)]).decode


class TabCount(msgspec.Struct, rename="camel"):
    label: str
    unread: int
    unseen: int


class Counts(msgspec.Struct, rename="camel"):
    unread: int
    unseen: int
    tabs: list[TabCount]
    """One per tab asked for, in order; without ``tabs``, one per category of the items in the list."""


class Within(msgspec.Struct, forbid_unknown_fields=True):
    type: Annotated[list[Pattern], msgspec.Meta(max_length=MAX_PATTERNS)] = []
    category: Annotated[list[Pattern], msgspec.Meta(max_length=MAX_PATTERNS)] = []
    read: bool | None = None
    archived: bool | None = False


class TriageBody(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """Either ``ids`` or ``all: true`` (optionally narrowed by ``within``), and the new state in ``set``."""

    set: StateChange
    ids: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=64)]],
                   msgspec.Meta(min_length=1, max_length=MAX_IDS)] | None = None
    all: bool = False
    within: Within | None = None


class SnoozeBody(msgspec.Struct, forbid_unknown_fields=True):
    until: Annotated[int, msgspec.Meta(ge=0, le=2**53)]
    """Milliseconds since the epoch: when the item comes back as new."""


class UnreadCount(msgspec.Struct, rename="camel"):
    unread_count: int


def item_filter(types: list[str] | None, categories: list[str] | None, archived: bool | None,
                read: bool | None) -> ItemFilter:
    found = ItemFilter(tuple(types or ()), tuple(categories or ()), archived, read)
    type_clause(found.types)  # refuses a bad pattern with a 400 here, before any query
    return found


class TriageController(Controller):
    path = "/api/notifications"
    dependencies = reader_dependency
    tags = ["subscriber"]

    @get("/counts")
    async def counts(self, request: Request, user_id: str,
                     tabs: Annotated[str | None, Parameter(max_length=2000, description=(
                         'Tabs as JSON: [{"label": "Orders", "types": ["order.*"]}, {"label": "Team",'
                         ' "categories": ["team"]}]'))] = None) -> Counts:
        """Unread and unseen counts, in total and per tab: cheap enough to ask on every change."""
        triage = services(request).triage
        if tabs is None:
            specs = [TabSpec(c, categories=[c]) for c in (await triage.categories(user_id))[:MAX_TABS]]
        else:
            try:
                specs = _decode_tabs(tabs)
            except msgspec.DecodeError as exc:
                raise invalid_request(f'"tabs" is not a list of tabs: {exc}') from None
        wanted = [Tab(s.label, item_filter(s.types, s.categories, False, None)) for s in specs]
        total, per_tab = await triage.counts(user_id, wanted)
        return Counts(total.unread, total.unseen, [TabCount(c.label, c.unread, c.unseen) for c in per_tab])

    @post("/triage", status_code=200, guards=[json_body], raises=[NotFoundException])
    async def change(self, request: Request, user_id: str, data: TriageBody) -> UnreadCount:
        """Set read, seen, archived or snoozedUntil on the given items, or on all (within a filter), everywhere."""
        if (data.ids is None) == (not data.all):
            raise invalid_request('Give either "ids" or "all": true.')
        if data.within is not None and not data.all:
            raise invalid_request('"within" narrows "all": true only.')
        within = None
        if data.all:
            w = data.within or Within()
            within = item_filter(w.type, w.category, w.archived, w.read)
        return UnreadCount(await services(request).triage.change(user_id, data.set, ids=data.ids, within=within))

    @post("/{item_id:str}/unread", status_code=200, raises=[NotFoundException])
    async def unread(self, request: Request, user_id: str, item_id: ItemId) -> UnreadCount:
        """Mark one item unread, on every tab and device."""
        return UnreadCount(await services(request).triage.change(user_id, StateChange(read=False), ids=[item_id]))

    @post("/{item_id:str}/archive", status_code=200, raises=[NotFoundException])
    async def archive(self, request: Request, user_id: str, item_id: ItemId) -> UnreadCount:
        """Move one item to the archive, on every tab and device."""
        return UnreadCount(await services(request).triage.change(user_id, StateChange(archived=True), ids=[item_id]))

    @post("/{item_id:str}/unarchive", status_code=200, raises=[NotFoundException])
    async def unarchive(self, request: Request, user_id: str, item_id: ItemId) -> UnreadCount:
        """Bring one item back from the archive, on every tab and device."""
        return UnreadCount(await services(request).triage.change(user_id, StateChange(archived=False), ids=[item_id]))

    @post("/{item_id:str}/snooze", status_code=200, guards=[json_body], raises=[NotFoundException])
    async def snooze(self, request: Request, user_id: str, item_id: ItemId, data: SnoozeBody) -> UnreadCount:
        """Take one item out of the list until ``until``; then it comes back as new, live."""
        return UnreadCount(await services(request).triage.change(
            user_id, StateChange(snoozed_until=data.until), ids=[item_id]))

    @post("/{item_id:str}/click", status_code=200, raises=[NotFoundException])
    async def click(self, request: Request, user_id: str, item_id: ItemId) -> UnreadCount:
        """The user opened the item: marked read and seen, and a ``clicked`` webhook to the backend."""
        return UnreadCount(await services(request).triage.click(user_id, item_id))

    @post("/{item_id:str}/actions/{action_id:str}", status_code=200, raises=[NotFoundException])
    async def act(self, request: Request, user_id: str, item_id: ItemId,
                  action_id: Annotated[str, Parameter(max_length=64)]) -> UnreadCount:
        """Record the click on one of the item's actions: stored on it, read, told to every tab and the backend."""
        return UnreadCount(await services(request).triage.change(
            user_id, StateChange(), ids=[item_id], action=action_id))
