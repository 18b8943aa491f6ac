"""Pyodide's transport: the browser's ``fetch`` (``pyodide.http.pyfetch``) and ``EventSource``.

Two ways to authenticate, and the stream follows from which:

- The session cookie (a page that signed in through ``POST /api/session``):
  requests carry no credentials of their own and the stream is the browser's
  ``EventSource``, which sends the cookie. Resume goes as ``?lastEventId=``
  (an EventSource cannot set headers; a cursor is no secret).
- A subscriber token (Node, a web worker, a page without cookies): it must go
  in an ``Authorization`` header, never in a URL, and an ``EventSource`` cannot
  send one, so the stream is a streaming ``fetch`` read through ``SSEParser``.

An ``EventSource`` hides the status of a refused stream, so a failed opening is
followed by one ``GET /api/notifications?limit=1``, whose answer says why
(401 signed out, 503 unavailable) with the contract's error.
"""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator
from urllib.parse import urlencode

from herald_client.errors import ConnectionFailed, error_from_response
from herald_client.http import Request, Response, ServerEvent
from herald_client.sse import SSEParser

STREAM_EVENTS = ("ready", "notification", "read", "reset", "channel", "closed")
OPEN_TIMEOUT_SECONDS = 10.0
"""No ``ready`` this long after opening: something on the way buffers the stream; try again."""


def _credentials(url: str) -> str:
    # Herald on another origin needs the cookie sent explicitly (and HERALD_CORS_ORIGINS to allow it).
    try:
        from js import location

        origin = str(location.origin)
    except (ImportError, AttributeError):  # Node: no page, no cookies
        return "same-origin"
    return "same-origin" if not url or url.startswith(origin) or url.startswith("/") else "include"


class FetchTransport:
    """Requests with ``pyfetch``; streams with ``EventSource`` (cookie) or ``fetch`` (token header)."""

    def __init__(self, url: str = "", *, timeout_seconds: float = 10.0) -> None:
        self.base = url.rstrip("/")
        self.credentials = _credentials(self.base)
        self.timeout_seconds = timeout_seconds

    def url(self, path: str, params: dict[str, str]) -> str:
        return self.base + path + (f"?{urlencode(params)}" if params else "")

    async def send(self, request: Request) -> Response:
        from pyodide.http import pyfetch

        headers = {"Accept": "application/json", **request.headers}
        body = request.body()
        if body is not None:
            headers["Content-Type"] = "application/json"
        options: dict[str, Any] = {"method": request.method, "headers": headers, "credentials": self.credentials}
        if body is not None:
            options["body"] = body.decode()
        try:
            answer = await asyncio.wait_for(pyfetch(self.url(request.path, dict(request.params)), **options),
                                            self.timeout_seconds)
            content = await answer.bytes()
        except Exception as exc:  # noqa: BLE001 - fetch rejects with a JS TypeError/AbortError on any network failure
            raise ConnectionFailed(f"{request.method} {request.path}: {exc}") from exc
        return Response(answer.status, {k.lower(): v for k, v in answer.headers.items()}, content)

    async def open_stream(self, request: Request) -> FetchEventStream | EventSourceStream:
        headers = dict(request.headers)
        if "Authorization" in headers or not _has_event_source():
            return await FetchEventStream.open(self, request.path, dict(request.params), headers)
        params = dict(request.params)
        if "Last-Event-ID" in headers:
            params["lastEventId"] = headers["Last-Event-ID"]
        stream = EventSourceStream(self.url(request.path, params), self.credentials == "include")
        try:
            await stream.opened()
        except ConnectionFailed:
            await stream.aclose()
            # Why it failed: the same credentials on a plain request get the status and the contract's body.
            (await self.send(Request("GET", "/api/notifications", {"limit": "1"}))).raise_for_error()
            raise
        return stream

    async def aclose(self) -> None:
        pass  # the browser owns the connections


def _has_event_source() -> bool:
    try:
        from js import EventSource  # noqa: F401
    except ImportError:
        return False
    return True


class EventSourceStream:
    """The browser's ``EventSource``, its events queued for Python. Its own reconnect is not used: the
    subscriber closes it on the first error and reconnects itself, from its own cursor, with backoff."""

    _FAILED = ServerEvent("error", "")

    def __init__(self, url: str, with_credentials: bool) -> None:
        from js import EventSource, Object
        from pyodide.ffi import create_proxy, to_js

        self._queue: asyncio.Queue[ServerEvent] = asyncio.Queue()
        self._first: ServerEvent | None = None
        self._source = EventSource.new(url, to_js({"withCredentials": with_credentials},
                                                  dict_converter=Object.fromEntries))
        self._proxies = []
        for name in STREAM_EVENTS:
            proxy = create_proxy(lambda event, name=name: self._queue.put_nowait(
                ServerEvent(name, str(event.data), str(event.lastEventId) or None)))
            self._source.addEventListener(name, proxy)
            self._proxies.append((name, proxy))
        on_error = create_proxy(lambda _event: self._queue.put_nowait(self._FAILED))
        self._source.addEventListener("error", on_error)
        self._proxies.append(("error", on_error))

    async def opened(self) -> None:
        """Wait for the first event (``ready``); a failure or silence first raises ``ConnectionFailed``."""
        try:
            self._first = await asyncio.wait_for(self._queue.get(), OPEN_TIMEOUT_SECONDS)
        except asyncio.TimeoutError:
            raise ConnectionFailed("no event within the opening timeout") from None
        if self._first is self._FAILED:
            raise ConnectionFailed("the EventSource could not open")

    async def __aiter__(self) -> AsyncIterator[ServerEvent]:
        if self._first is not None:
            yield self._first
        while True:
            event = await self._queue.get()
            if event is self._FAILED:
                raise ConnectionFailed("the EventSource failed")
            yield event

    async def aclose(self) -> None:
        self._source.close()
        self._queue.put_nowait(self._FAILED)  # an iteration waiting on the queue ends, as with a dropped stream
        for name, proxy in self._proxies:
            self._source.removeEventListener(name, proxy)
            proxy.destroy()
        self._proxies.clear()


class FetchEventStream:
    """A streaming ``fetch`` of ``text/event-stream``, for when credentials must go in a header."""

    def __init__(self, answer: Any) -> None:
        self._answer = answer
        self._reader = answer.js_response.body.getReader()

    @classmethod
    async def open(cls, transport: FetchTransport, path: str, params: dict[str, str],
                   headers: dict[str, str]) -> FetchEventStream:
        from pyodide.http import pyfetch

        try:
            answer = await pyfetch(transport.url(path, params), method="GET", credentials=transport.credentials,
                                   headers={**headers, "Accept": "text/event-stream"})
        except Exception as exc:  # noqa: BLE001 - a JS network error
            raise ConnectionFailed(f"stream: {exc}") from exc
        if answer.status != 200:
            body = await answer.bytes()
            raise error_from_response(answer.status, {k.lower(): v for k, v in answer.headers.items()}, body)
        return cls(answer)

    async def __aiter__(self) -> AsyncIterator[ServerEvent]:
        parser = SSEParser()
        while True:
            try:
                chunk = await self._reader.read()
            except Exception as exc:  # noqa: BLE001 - the connection dropped, or aclose aborted it
                raise ConnectionFailed(f"stream: {exc}") from exc
            if chunk.done:
                raise ConnectionFailed("the stream ended")
            for event in parser.feed(chunk.value.to_bytes()):
                yield event

    async def aclose(self) -> None:
        try:
            self._answer.abort()
        except Exception:  # noqa: BLE001 - already finished
            pass
