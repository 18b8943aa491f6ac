"""The seam between the client and a network: requests as data, and the two protocols a transport implements.

The producer and the subscriber build ``Request`` values and read ``Response``
values; they never touch a network library. A transport sends them: httpx on
CPython (``httpx_transport``), the browser's ``fetch`` and ``EventSource`` in
Pyodide (``pyodide_transport``). Adding an endpoint is one ``Call`` builder
in ``api.py``; no transport changes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Generic, Mapping, Protocol, TypeVar

from herald_client.errors import HeraldError, error_from_response

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    """From the server root: ``/api/publish``."""
    params: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def body(self) -> bytes | None:
        return None if self.json is None else json.dumps(self.json, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str]
    """Lower-case names."""
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def raise_for_error(self) -> None:
        if self.status >= 400:
            raise error_from_response(self.status, self.headers, self.body)


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One API operation: the request, and how its successful answer becomes a value."""

    request: Request
    parse: Callable[[Response], T]


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """One Server-Sent Events frame. ``id`` only when this frame carried an ``id:`` field."""

    event: str
    data: str
    id: str | None = None


class EventStream(Protocol):
    """An open ``text/event-stream``: frames until the connection ends (then ``ConnectionFailed``)."""

    def __aiter__(self) -> AsyncIterator[ServerEvent]: ...

    async def aclose(self) -> None: ...


class SyncTransport(Protocol):
    def send(self, request: Request) -> Response:
        """Send and read the whole answer; network failures raise ``ConnectionFailed``."""
        ...

    def close(self) -> None: ...


class AsyncTransport(Protocol):
    async def send(self, request: Request) -> Response:
        """Send and read the whole answer; network failures raise ``ConnectionFailed``."""
        ...

    async def open_stream(self, request: Request) -> EventStream:
        """Open ``GET request.path`` as an SSE stream; an error answer raises its ``HeraldError`` before any frame.

        The resume cursor comes as a ``Last-Event-ID`` header in ``request.headers``.
        """
        ...

    async def aclose(self) -> None: ...


def finish(call: Call[T], response: Response) -> T:
    response.raise_for_error()
    return call.parse(response)


def no_content(_: Response) -> None:
    return None


__all__ = ["AsyncTransport", "Call", "EventStream", "HeraldError", "Request", "Response", "ServerEvent",
           "SyncTransport", "finish", "no_content"]
