"""The connection limits (``herald.admission``) applied to requests: a guard for streams, a dependency for WebSockets."""
from __future__ import annotations

from litestar import WebSocket
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.handlers import BaseRouteHandler

from herald.admission import Admission, Refusal
from herald.errors import too_many_requests

__all__ = ["Refusal", "admit_stream", "websocket_admission"]


def peer_address(connection: ASGIConnection) -> str | None:
    """The client's address as uvicorn reports it (``X-Forwarded-For`` only from trusted proxies; see herald serve)."""
    client = connection.scope.get("client")
    return client[0] if client else None


def _resuming(connection: ASGIConnection) -> bool:
    return bool(connection.headers.get("last-event-id") or connection.query_params.get("lastEventId")
                or connection.query_params.get("cursor"))


async def admit_stream(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Guard for the SSE stream and long polling: 429 with ``Retry-After`` beyond the connection limits.

    A guard runs before authentication, so floods of bad credentials are limited too (and counted
    in ``herald_connects_total``, which counts what the limits let through).
    """
    admission: Admission = connection.app.state.services.admission
    refusal = await admission.admit(peer_address(connection))
    if refusal is not None:
        raise too_many_requests("Too many new connections; retry after the time in Retry-After.",
                                refusal.retry_after_seconds)
    admission.opened(handler.opt.get("transport", "sse"), _resuming(connection))


async def websocket_refusal(socket: WebSocket) -> Refusal | None:
    """Dependency for the WebSocket route, which must accept before it can refuse with a close code."""
    return await socket.app.state.services.admission.admit(peer_address(socket))  # type: ignore[no-any-return]


websocket_admission = {"refusal": Provide(websocket_refusal)}
