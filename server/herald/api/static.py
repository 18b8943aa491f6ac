"""Files served as they are: the web client and demo (``/static``), the service worker, the demo page."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import MediaType, Response, get
from litestar.static_files import create_static_files_router

ROOT = Path(__file__).resolve().parents[3]
WEB_DIR = ROOT / "web"
SERVICE_WORKER = ROOT / "service_worker" / "sw.js"


def static_files() -> list[Any]:
    """The ``/static`` router over ``web/`` (absent in a package installed without the web client)."""
    if not WEB_DIR.is_dir():
        return []
    return [create_static_files_router(path="/static", directories=[WEB_DIR], include_in_schema=False)]


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
