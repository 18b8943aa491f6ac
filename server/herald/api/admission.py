"""The connection limits (``herald.admission``) applied to requests: the stream's and long poll's ``user_id``
dependency, and a dependency for WebSockets."""
from __future__ import annotations

from typing import Any

from litestar import Request, WebSocket
from litestar.connection import ASGIConnection
from litestar.di import Provide

from herald.admission import Admission, Refusal
from herald.api.auth import require_subscriber
from herald.errors import too_many_requests

__all__ = ["Refusal", "admitted_subscriber", "websocket_admission"]


def peer_address(connection: ASGIConnection) -> str | None:
    """The client's address as uvicorn reports it (``X-Forwarded-For`` only from trusted proxies; see herald serve)."""
    client = connection.scope.get("client")
    return client[0] if client else None


def _resuming(connection: ASGIConnection) -> bool:
    return bool(connection.headers.get("last-event-id") or connection.query_params.get("lastEventId")
                or connection.query_params.get("cursor"))


async def admit_stream(connection: ASGIConnection, transport: str) -> None:  # type: ignore[type-arg]
    """429 with ``Retry-After`` beyond the connection limits, for the SSE stream and long polling."""
    admission: Admission = connection.app.state.services.admission
    refusal = await admission.admit(peer_address(connection))
    if refusal is not None:
        raise too_many_requests("Too many new connections; retry after the time in Retry-After.",
                                refusal.retry_after_seconds)
    admission.opened(transport, _resuming(connection))


def admitted_subscriber(transport: str) -> dict[str, Any]:
    """The ``user_id`` dependency of a stream route: the connection limits first, then who is calling.

    Admission comes before authentication, so floods of bad credentials are limited too (and
    counted in ``herald_connects_total``, which counts what the limits let through). One
    dependency rather than a guard and a dependency: Litestar hands every guard a copy of the
    route handler, 3 % of the event loop's time in a storm of stream opens (py-spy).
    """
    async def admitted(request: Request) -> str:  # type: ignore[type-arg]
        await admit_stream(request, transport)
        return await require_subscriber(request)

    return {"user_id": Provide(admitted)}


async def websocket_refusal(socket: WebSocket) -> Refusal | None:
    """Dependency for the WebSocket route, which must accept before it can refuse with a close code."""
    return await socket.app.state.services.admission.admit(peer_address(socket))  # type: ignore[no-any-return]


websocket_admission = {"refusal": Provide(websocket_refusal)}
