"""Route guards shared by the JSON API's controllers."""
from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from herald.errors import unsupported_media_type


async def json_body(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard: bodies are JSON. A form post or text/plain is a 415, never a guess.

    Async on purpose: Litestar runs a plain function guard in a worker thread, a thread hop on every publish.
    """
    media_type = connection.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise unsupported_media_type()
