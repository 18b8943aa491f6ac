"""Files served as they are: the web client and demo (``/static``), the service worker, the demo page."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import MediaType, Response, get
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.static_files import create_static_files_router

from herald.errors import not_found

ROOT = Path(__file__).resolve().parents[3]
WEB_DIR = ROOT / "web"
SERVICE_WORKER = ROOT / "service_worker" / "sw.js"
# Longer than any file here, and within what every file system takes (PATH_MAX, NAME_MAX).
MAX_PATH_BYTES = 1024
MAX_NAME_BYTES = 255


def static_files() -> list[Any]:
    """The ``/static`` router over ``web/`` (absent in a package installed without the web client)."""
    if not WEB_DIR.is_dir():
        return []
    return [create_static_files_router(path="/static", directories=[WEB_DIR], include_in_schema=False,
                                       guards=[plain_file_path])]


async def plain_file_path(connection: ASGIConnection, _: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """Guard of ``/static``: a path no file system would take is a 404 before it reaches one.

    A NUL byte made ``Path.stat()`` raise ``ValueError`` and a name past NAME_MAX raised
    ``ENAMETOOLONG`` inside Litestar's static handler: a 500 for what a client sent.
    Control characters are refused too: no file of the web client has one in its name.
    (Traversal, ``..`` and encoded separators, Litestar already keeps inside the directory.)
    """
    path = str(connection.path_params.get("file_path", ""))
    encoded = path.encode("utf-8", "surrogateescape")
    if (len(encoded) > MAX_PATH_BYTES or any(byte < 0x20 or byte == 0x7F for byte in encoded)
            or any(len(part) > MAX_NAME_BYTES for part in encoded.split(b"/"))):
        raise not_found("No such file.")


@get("/sw.js", include_in_schema=False, media_type="text/javascript")
async def service_worker() -> Response[bytes]:
    """The service worker, from the site root so that its scope covers the whole app."""
    if not SERVICE_WORKER.is_file():
        return Response(b"", status_code=404, media_type="text/javascript")
    return Response(SERVICE_WORKER.read_bytes(), media_type="text/javascript",
                    headers={"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"})


@get("/", include_in_schema=False, media_type=MediaType.HTML)
async def demo_page() -> Response[bytes]:
    """The demo page (development mode only)."""
    page = WEB_DIR / "demo.html"
    if not page.is_file():
        return Response(b"<!doctype html><title>Herald</title><p>Herald is running.</p>", media_type=MediaType.HTML)
    return Response(page.read_bytes(), media_type=MediaType.HTML)
