"""Which page may use a user's session cookie: the request's own origin, or one of ``HERALD_CORS_ORIGINS``.

CORS keeps other origins from *reading* answers, but two kinds of request
run before CORS can say no: a WebSocket handshake (no preflight at all) and
a "simple" POST such as ``read-all`` (no body, so no preflight). Browsers do
not send a ``SameSite=Lax`` cookie cross-site, so what is left is other
origins of the same site, a sibling subdomain, which is exactly who
``HERALD_CORS_ORIGINS`` is meant to keep out. So a request that signs in with
the cookie and could change something, or opens a socket, must come from an
allowed ``Origin``. No ``Origin`` at all is not a browser page (or a
same-origin navigation): it is let through, and a Bearer token never depends
on this check.

"Same origin" compares the ``Origin`` with the ``Host`` the request arrived
with: behind a proxy, pass it on (nginx: ``proxy_set_header Host $host;``) or
list the public origin in ``HERALD_CORS_ORIGINS``.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from litestar.connection import ASGIConnection

DEFAULT_PORTS = {"http": 80, "https": 443}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def origin_allowed(connection: ASGIConnection, allowed: tuple[str, ...]) -> bool:  # type: ignore[type-arg]
    origin = connection.headers.get("origin")
    if origin is None:
        return True
    if origin in allowed:
        return True
    return _same_origin(origin, connection)


def _same_origin(origin: str, connection: ASGIConnection) -> bool:  # type: ignore[type-arg]
    try:
        given = urlsplit(origin)
        host = urlsplit("//" + connection.headers.get("host", ""))
        given_port, host_port = given.port, host.port
    except ValueError:
        return False  # not a URL with a valid port
    if given.scheme not in ("http", "https") or not given.hostname:
        return False  # "null" (a sandboxed frame, a file), or nothing a browser sends
    # uvicorn sets the scheme from X-Forwarded-Proto for HERALD_TRUSTED_PROXIES only.
    ours = "https" if connection.scope.get("scheme") in ("https", "wss") else "http"
    return (given.scheme == ours and given.hostname == host.hostname
            and (given_port or DEFAULT_PORTS[given.scheme]) == (host_port or DEFAULT_PORTS[ours]))
