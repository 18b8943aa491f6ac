"""Where opening streams start: the inbox head, retention floor and unread count, many users per query."""
from __future__ import annotations

import asyncio
import itertools
from typing import Awaitable, Callable

from herald.inbox import Inbox, StreamStart

START_BATCH = 500  # stream opens answered by one query: a reconnect storm costs a few queries, not thousands
CatchUp = Callable[[list[str]], Awaitable[None]]
"""Copies the broadcasts these users' inboxes have not yet taken (and announces them), before a start is read."""
START_QUERIES = 4  # batches in flight at once, and more than one only while full batches wait


class StartLoader:
    """Reads where each opening stream starts, many users per query.

    Requests that arrive while a query runs wait for the next one, so a quiet
    server answers each open with one query at once, and a reconnect storm of
    thousands costs a few queries.

    A second query starts beside a running one only for a full batch: opens
    arrive one by one, a few hundred microseconds apart, and with four queries
    allowed at once each went out with one or two users (measured: 3,031
    queries for 4,000 opens), so the query overhead, not the database, was
    what a storm paid for.
    """

    def __init__(self, inbox: Inbox, catch_up: CatchUp | None = None) -> None:
        self.inbox = inbox
        self.catch_up = catch_up
        self._waiting: dict[str, list[asyncio.Future[StreamStart]]] = {}
        self._running = 0
        self._scheduled = False
        self._queries: set[asyncio.Task[None]] = set()

    async def load(self, user_id: str) -> StreamStart:
        future: asyncio.Future[StreamStart] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(user_id, []).append(future)
        self._schedule()
        return await future

    def _schedule(self) -> None:
        if not self._scheduled and self._may_launch():
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._launch)

    def _may_launch(self) -> bool:
        if not self._waiting:
            return False
        return self._running == 0 or (self._running < START_QUERIES and len(self._waiting) >= START_BATCH)

    def _launch(self) -> None:
        self._scheduled = False
        while self._may_launch():
            batch = dict(itertools.islice(self._waiting.items(), START_BATCH))
            for user_id in batch:
                del self._waiting[user_id]
            self._running += 1
            # Kept: the loop holds tasks only weakly, and a query collected mid-flight would strand its waiters.
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._queries.add(task)
            task.add_done_callback(self._queries.discard)

    async def _run(self, batch: dict[str, list[asyncio.Future[StreamStart]]]) -> None:
        try:
            if self.catch_up is not None:
                await self.catch_up(list(batch))  # broadcasts not yet in these inboxes (broadcasts.py): one check
            starts = await self.inbox.stream_starts(list(batch))
        except Exception as exc:  # noqa: BLE001 - each waiting open fails as its own query would have
            for futures in batch.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
        else:
            for user_id, futures in batch.items():
                for future in futures:
                    if not future.done():
                        future.set_result(starts[user_id])
        finally:
            self._running -= 1
            self._schedule()
