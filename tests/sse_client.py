"""A small SSE reader for tests: parses frames exactly as the EventSource spec does."""
from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import httpx


@dataclass
class Event:
    event: str = "message"
    id: str | None = None
    data: str = ""
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class Stream:
    response: httpx.Response
    comments: int = 0
    last_event_id: str | None = None
    _lines: AsyncIterator[str] | None = field(default=None, repr=False)

    async def next(self, timeout: float = 5.0) -> Event:
        """The next dispatched event (comments are counted, not returned)."""
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> Event:
        assert self._lines is not None
        event, data, seen = Event(), [], False
        async for line in self._lines:
            if line == "":
                if seen:
                    event.data = "\n".join(data)
                    if event.id is not None:
                        self.last_event_id = event.id
                    return event
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            seen = True
            if name == "event":
                event.event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                event.id = value
            elif name == "retry":
                event.retry = int(value)
        raise EOFError("stream ended")

    async def until(self, kind: str, timeout: float = 5.0) -> Event:
        while True:
            event = await self.next(timeout)
            if event.event == kind:
                return event


@contextlib.asynccontextmanager
async def open_stream(base_url: str, token: str | None = None, last_event_id: str | None = None,
                      query: str = "", cookies: dict[str, str] | None = None) -> AsyncIterator[Stream]:
    headers = {"Accept": "text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    async with httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(30, read=60), cookies=cookies) as client:
        async with client.stream("GET", "/api/notifications/stream" + query, headers=headers) as response:
            yield Stream(response, _lines=response.aiter_lines())
