"""Who is calling: producers by API key, subscribers by token or session cookie.

Both are Litestar dependencies, so a handler states what it needs in its
signature (``producer: str`` or ``user_id: str``) and cannot forget the check.
"""
from __future__ import annotations

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import Provide

from herald.api.origin import SAFE_METHODS, origin_allowed
from herald.errors import forbidden, unauthorized
from herald.services import Services
from herald.tokens import TokenError

SESSION_COOKIE = "herald_session"


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def bearer(request: ASGIConnection) -> str | None:  # type: ignore[type-arg]
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise unauthorized("The Authorization header must be 'Bearer <token>'.")
    return value.strip()


async def require_producer(request: Request) -> str:
    key = bearer(request)
    if key is None:
        raise unauthorized("An API key is required: 'Authorization: Bearer <api key>'.")
    producer = await services(request).keys.authenticate(key)
    if producer is None:
        raise unauthorized("Unknown API key.")
    return producer


async def require_subscriber(request: ASGIConnection) -> str:  # type: ignore[type-arg]
    """The user id behind a Bearer subscriber token or the session cookie (HTTP and WebSocket alike)."""
    signer = services(request).signer
    token = bearer(request)
    try:
        if token is not None:
            return signer.verify(token, "subscriber")
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            user_id = signer.verify(cookie, "session")
            if request.scope["type"] == "http" and request.scope["method"] not in SAFE_METHODS and not origin_allowed(
                    request, services(request).settings.cors_origins):
                raise forbidden("This page's origin may not use the session: send a Bearer token, or add the "
                                "origin to HERALD_CORS_ORIGINS.")
            return user_id
    except TokenError:
        raise unauthorized("The token is invalid or has expired.") from None
    raise unauthorized("Sign in first: send 'Authorization: Bearer <token>' or the session cookie.")


async def require_reader(request: ASGIConnection) -> str:  # type: ignore[type-arg]
    """``require_subscriber``, with the broadcasts not yet in the user's inbox copied there first (broadcasts.py)."""
    user_id = await require_subscriber(request)
    await services(request).publisher.catch_up([user_id])
    return user_id


producer_dependency = {"producer": Provide(require_producer)}
subscriber_dependency = {"user_id": Provide(require_subscriber)}
reader_dependency = {"user_id": Provide(require_reader)}
"""For routes that read or change the inbox: it holds every broadcast so far when the handler runs."""
