"""Subscriber endpoints: the live stream, the inbox list, and read state."""
from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from herald.api.admission import admitted_subscriber
from herald.api.auth import reader_dependency, services
from herald.api.guards import json_body
from herald.api.triage import item_filter
from herald.delivery.connection import Connection
from herald.delivery.poll import PollAnswer, poll
from herald.delivery.sse import CHUNKED_SSE_ENCODER, SSE_ENCODER, AsgiSink, SSEStream, TransportSink
from herald.errors import invalid_cursor, invalid_request
from herald.receipts import AckIds
from herald.triage import MAX_PATTERNS
from herald.wire import MAX_CHANNELS, Notification, change_json, now_ms, parse_channels, parse_cursor

MAX_POLL_SECONDS = 60
_decode_change = msgspec.json.Decoder(dict[str, Any]).decode


class InboxPage(msgspec.Struct, rename="camel"):
    items: list[Notification]
    unread_count: int
    cursor: str
    next_before: str | None
    changes: list[dict[str, Any]] = []
    """With ``since``: inbox changes among the same cursors, oldest first (``{"type": "read", "cursor": ...}``),
    so that catching up over REST learns what the stream would have said."""


class UnreadCount(msgspec.Struct, rename="camel"):
    unread_count: int


class AckBody(msgspec.Struct, forbid_unknown_fields=True):
    ids: AckIds


def _values(request: Request, name: str, given: str | None) -> list[str] | None:
    if given is None:
        return None
    found = [value for repeat in request.query_params.getall(name) for value in repeat.split(",") if value]
    if len(found) > MAX_PATTERNS:
        raise invalid_request(f"At most {MAX_PATTERNS} values of {name!r}.")
    return found


class InboxController(Controller):
    path = "/api/notifications"
    dependencies = reader_dependency
    tags = ["subscriber"]

    @get("/stream", media_type="text/event-stream", dependencies=admitted_subscriber("sse"))
    async def stream(
        self,
        request: Request,
        user_id: str,
        last_event_id_query: Annotated[str | None, Parameter(query="lastEventId", max_length=32)] = None,
        last_event_id: Annotated[str | None, Parameter(header="Last-Event-ID", max_length=32)] = None,
        channels: Annotated[str | None, Parameter(max_length=MAX_CHANNELS * 129,
                                                  description="Live channels to join, comma-separated")] = None,
    ) -> SSEStream:
        """Server-Sent Events: ``ready``, ``notification``, ``read``, ``reset`` and ``channel``; resume with ``Last-Event-ID``."""
        # The header wins: it is what the browser sends on its own reconnects.
        resume = parse_cursor(last_event_id, "Last-Event-ID")
        if resume is None:
            resume = parse_cursor(last_event_id_query, "lastEventId")
        joined = parse_channels(channels.split(",") if channels else [])
        gateway = services(request).gateway

        async def open_stream(sink: TransportSink | AsgiSink) -> Connection | None:
            encoder = CHUNKED_SSE_ENCODER if isinstance(sink, TransportSink) else SSE_ENCODER
            return await gateway.open(user_id, resume, encoder, sink, "sse", joined)

        return SSEStream(open_stream)

    @get("/poll", media_type=MediaType.JSON, dependencies=admitted_subscriber("poll"),
         responses={200: ResponseSpec(PollAnswer, description="Items after the cursor", generate_examples=False)})
    async def long_poll(
        self,
        request: Request,
        user_id: str,
        cursor: Annotated[str | None, Parameter(max_length=32)] = None,
        timeout: Annotated[float, Parameter(ge=0, le=MAX_POLL_SECONDS)] = 25,
    ) -> Response[bytes]:
        """Long polling: items after ``cursor`` (urgent first) at once, or when one arrives, or after ``timeout`` s."""
        s = services(request)
        body = await poll(s.inbox, s.fanout, user_id, parse_cursor(cursor, "cursor"), timeout, s.publisher.catch_up)
        return Response(body, media_type=MediaType.JSON, headers={"Cache-Control": "no-store"})

    @get("/")
    async def list_items(
        self,
        request: Request,
        user_id: str,
        since: Annotated[str | None, Parameter(max_length=32)] = None,
        before: Annotated[str | None, Parameter(max_length=32)] = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        types: Annotated[str | None, Parameter(query="type", max_length=1200, description=(
            "Type patterns, any of them: exact, or a prefix ending in * (order.*); comma-separated or repeated"
        ))] = None,
        category: Annotated[str | None, Parameter(max_length=800, description=(
            "Categories, any of them: comma-separated or repeated"))] = None,
        archived: bool = False,
        read: bool | None = None,
    ) -> InboxPage:
        """The inbox: the newest page, items after ``since`` (oldest first), or before ``before`` (newest first).

        ``type``, ``category``, ``archived`` (default false: the archive is its own view) and ``read`` narrow a
        newest or ``before`` page; snoozed items are out of the list until they are back. A ``since`` page
        is a replay and is never narrowed: it carries every item and change, triage ones included."""
        since_seq, before_seq = parse_cursor(since, "since"), parse_cursor(before, "before")
        if since_seq is not None and before_seq is not None:
            raise invalid_request("Give either 'since' or 'before', not both.")
        s = services(request)
        newest = await s.inbox.last_seq(user_id)
        if (since_seq or 0) > newest or (before_seq or 0) > newest + 1:
            raise invalid_cursor("The cursor is ahead of this inbox: it was not issued for this user.")
        # Declared as one string (a query schema cannot say "repeated" well); every repeat counts.
        where = () if since_seq is not None else item_filter(
            _values(request, "type", types), _values(request, "category", category), archived, read).clauses(now_ms())
        page = await s.inbox.page(user_id, since=since_seq, before=before_seq, limit=limit, where=where)
        if page.seqs:
            cursor = max(page.seqs)
        else:
            cursor = since_seq if since_seq is not None else newest if before_seq is None else 0
        next_before = str(min(page.seqs)) if since_seq is None and len(page.seqs) == limit else None
        changes = [_decode_change(change_json(c.kind, c.seq, c.body)) for c in page.changes]
        return InboxPage(page.items, page.unread, str(cursor), next_before, changes)

    @post("/ack", status_code=204, guards=[json_body])
    async def ack(self, request: Request, user_id: str, data: AckBody) -> None:
        """Delivered receipts, batched: ids of items this client received (WebSocket clients send ``ack`` instead).

        Ids that are not in the caller's inbox are ignored, as repeats are (see receipts.py).
        """
        services(request).receipts.record(user_id, data.ids, "http")

    @post("/read-all", status_code=200)
    async def read_all(self, request: Request, user_id: str) -> UnreadCount:
        """Mark every item read, on every tab and device of this user."""
        return UnreadCount(await services(request).publisher.publish_read(user_id, None))

    @post("/{item_id:str}/read", status_code=200, raises=[NotFoundException])
    async def read_one(self, request: Request, user_id: str, item_id: Annotated[str, Parameter(max_length=64)]) -> UnreadCount:
        """Mark one item read, on every tab and device of this user."""
        return UnreadCount(await services(request).publisher.publish_read(user_id, [item_id]))

