"""The subscriber: one user's notifications as an async iterator, with exact resume, and their inbox.

``async for item in subscriber`` yields every notification once, in order,
across drops and server restarts: the cursor of the last event (the SSE
``id:``) goes back as ``Last-Event-ID`` on each reconnect, and Herald replays
exactly what came after it. A repeat (an urgent item written ahead of older
ones and replayed after a drop, see the contract's cursor) is dropped by
``id``; a group grown in place comes again under its ``id`` with a larger
``group_count``, and is yielded as the update it is.

Reconnects wait with exponential backoff and jitter (``retry.Backoff``, reset by
each ``ready``), at least Herald's ``Retry-After``. What cannot be fixed by
waiting ends the iteration with its error: ``Unauthorized`` (signed out,
expired token), ``InvalidCursor``, ``StreamClosed`` (this stream was replaced by
a newer one of the same user).
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from typing import AsyncIterator, Sequence, TypeVar

from herald_client import api
from herald_client.calling import Retrying, async_method
from herald_client.errors import ConnectionFailed, HeraldError, StreamClosed
from herald_client.http import AsyncTransport, Call, EventStream, Request, ServerEvent
from herald_client.models import Event, LiveEvent, Notification, Ready, ReadChange, Reset, Retracted
from herald_client.retry import Backoff

T = TypeVar("T")
STREAM_PATH = "/api/notifications/stream"
log = logging.getLogger("herald_client")


class Subscriber:
    """One user's live notifications and inbox.

    ``token``: a subscriber token (``Herald.mint_token``), sent as ``Authorization: Bearer``.
    Without one (a page that signed in, see ``sign_in``) the browser's session cookie is used.
    ``cursor``: resume after it (a ``cursor`` saved earlier, or an ``InboxPage.cursor``);
    None: from now on. ``channels``: live channels to join as well (``LiveEvent``).
    """

    def __init__(self, url: str = "", *, token: str | None = None, cursor: str | None = None,
                 channels: Sequence[str] = (), backoff: Backoff = Backoff(base_seconds=1.0),
                 retries: int = 3, timeout_seconds: float = 10.0, remember_ids: int = 10_000,
                 transport: AsyncTransport | None = None) -> None:
        if transport is None:
            from herald_client.transports import default_async_transport

            transport = default_async_transport(url, timeout_seconds=timeout_seconds)
        self.transport = transport
        self.retrying = Retrying({"Authorization": f"Bearer {token}"} if token else {}, retries, backoff)
        self.backoff = backoff
        self.channels = tuple(channels)
        self.cursor = cursor
        """Where a new connection resumes: save it to resume from here in another process."""
        self.unread_count: int | None = None
        """The server's last word on the unread count (``ready``, ``read``, a mark-read answer)."""
        self._seen: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._remember_ids = remember_ids
        self._stream: EventStream | None = None
        self._now = False

    async def call(self, call: Call[T]) -> T:
        return await self.retrying.run_async(self.transport, call)

    page = async_method(api.list_page)
    ack = async_method(api.ack)
    sign_in = async_method(api.start_session)
    sign_out = async_method(api.end_session)

    async def mark_read(self, item_id: str) -> int:
        """Mark one item read everywhere; returns the unread count."""
        self.unread_count = await self.call(api.mark_read(item_id))
        return self.unread_count

    async def mark_all_read(self) -> int:
        self.unread_count = await self.call(api.mark_all_read())
        return self.unread_count

    def __aiter__(self) -> AsyncIterator[Notification]:
        return self.notifications()

    async def notifications(self) -> AsyncIterator[Notification]:
        """Every notification once (and each update of a group), for as long as you iterate."""
        async for event in self.events():
            if isinstance(event, Notification):
                yield event

    async def events(self) -> AsyncIterator[Event]:
        """Everything the stream says: ``Ready`` on each (re)connection, ``Notification``, ``ReadChange``,
        ``Reset`` (followed by the reloaded page's unseen items), ``LiveEvent``."""
        attempt = 0
        while True:
            try:
                stream = await self.transport.open_stream(self._stream_request())
            except HeraldError as error:
                if not error.retryable:
                    raise
                attempt = await self._wait(attempt, error)
                continue
            self._stream = stream
            failure: HeraldError | None = None
            try:
                async for frame in stream:
                    if frame.event == "ready":
                        attempt = 0
                    for event in await self._take(frame):
                        yield event
            except ConnectionFailed as error:
                failure = error
            finally:
                self._stream = None
                await stream.aclose()
            if self._now:
                self._now = False  # reconnect() asked: at once, no backoff
            else:
                attempt = await self._wait(attempt, failure)

    async def reconnect(self) -> None:
        """Drop the connection and open the next one now, from ``cursor`` (e.g. the network came back,
        or ``cursor`` was set to replay from an earlier point; what was yielded before is not again)."""
        if self._stream is not None:
            self._now = True
            await self._stream.aclose()

    async def aclose(self) -> None:
        """Close the open stream (an iteration in progress reconnects, unless it was left) and the transport."""
        if self._stream is not None:
            await self._stream.aclose()
        await self.transport.aclose()

    async def __aenter__(self) -> Subscriber:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    def _stream_request(self) -> Request:
        params = {"channels": ",".join(self.channels)} if self.channels else {}
        headers = {"Last-Event-ID": self.cursor} if self.cursor is not None else {}
        return self.retrying.authorized(Request("GET", STREAM_PATH, params, headers=headers))

    async def _wait(self, attempt: int, error: HeraldError | None) -> int:
        delay = self.backoff.delay(attempt, error)
        log.info("stream lost (%s); reconnecting in %.2f s", error.error if error else "ended", delay)
        await asyncio.sleep(delay)
        return attempt + 1

    async def _take(self, frame: ServerEvent) -> list[Event]:
        """The events one frame means; the cursor moves with every frame that carries one."""
        kind = frame.event
        if kind == "closed":
            raise StreamClosed(json.loads(frame.data).get("reason", "closed"))
        if frame.id is not None:
            # Items and inbox changes (read state) both carry the cursor; so may event types newer than this client.
            self.cursor = frame.id
        if kind not in ("ready", "notification", "read", "retract", "reset", "channel"):
            return []  # an event type newer than this client
        data = json.loads(frame.data)
        if kind == "channel":
            return [LiveEvent.from_wire(data)]
        if kind == "read":
            self.unread_count = int(data["unreadCount"])
            return [ReadChange(list(data.get("ids", [])), bool(data.get("all")), self.unread_count)]
        if kind == "retract":
            # A broadcast retracted before the inbox copied it comes to everyone alike, without a count.
            self.unread_count = int(data.get("unreadCount", self.unread_count))
            for item_id in data["ids"]:
                self._seen.pop(item_id, None)
            return [Retracted(list(data["ids"]), str(data.get("reason", "retracted")), self.unread_count)]
        if kind == "ready":
            self.unread_count = int(data["unreadCount"])
            return [Ready(frame.id or "", self.unread_count)]
        if kind == "notification":
            item = Notification.from_wire(data)
            return [item] if self._first_time(item) else []
        # reset: what came between our cursor and now is gone; the inbox's newest page is what is left.
        page = await self.call(api.list_page())
        self.unread_count = page.unread_count
        fresh: list[Event] = [item for item in reversed(page.items) if self._first_time(item)]
        return [Reset(frame.id or "", page), *fresh]

    def _first_time(self, item: Notification) -> bool:
        """Not seen before, or a group that grew in place since (larger count or newer timestamp)."""
        known = self._seen.get(item.id)
        if known is not None and item.group_count <= known[0] and item.timestamp <= known[1]:
            return False
        self._seen[item.id] = (item.group_count, item.timestamp)
        self._seen.move_to_end(item.id)
        if len(self._seen) > self._remember_ids:
            self._seen.popitem(last=False)
        return True
