"""``create_app(settings)``: the whole Herald app, with no module-level state."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from litestar import Litestar, MediaType, Response, get
from litestar.config.compression import CompressionConfig
from litestar.config.cors import CORSConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.static_files import create_static_files_router

from herald.admin import admin_router
from herald.api_demo import DemoController
from herald.api_inbox import InboxController
from herald.api_ws import notifications_ws
from herald.api_ops import healthz, metrics, readyz
from herald.api_producer import ProducerController
from herald.api_pyodide import pyodide_handlers
from herald.api_push import PushController
from herald.api_session import SessionController
from herald.errors import EXCEPTION_HANDLERS, ErrorResponses
from herald.logs import REQUEST_ID_HEADER, RequestIdMiddleware, litestar_logging
from herald.services import Services
from herald.sse import RAW_SEND
from herald.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
STREAM_PATH = "/api/notifications/stream"
WEB_DIR = ROOT / "web"
SERVICE_WORKER = ROOT / "service_worker" / "sw.js"

log = logging.getLogger("herald")


def create_app(settings: Settings) -> Litestar:
    services = Services.build(settings)

    async def on_startup(app: Litestar) -> None:
        app.state.services = services
        await services.start()

    async def on_shutdown(_: Litestar) -> None:
        await services.stop()

    handlers: list = [ProducerController, InboxController, notifications_ws, SessionController, PushController, healthz, readyz, metrics,
                      service_worker, admin_router(settings)]
    if WEB_DIR.is_dir():
        handlers.append(create_static_files_router(path="/static", directories=[WEB_DIR], include_in_schema=False))
    if not settings.is_production:
        handlers += [DemoController, demo_page]
    handlers += pyodide_handlers(settings)

    return HeraldApp(
        route_handlers=handlers,
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        logging_config=litestar_logging(settings),
        plugins=[ErrorResponses()],
        request_max_body_size=settings.max_body_bytes,
        # Static files and JSON go out gzipped; the SSE stream must not (a proxy or browser
        # would buffer a compressed stream, and its fast path writes plain chunks).
        compression_config=CompressionConfig(backend="gzip", gzip_compress_level=6, exclude=[STREAM_PATH]),
        openapi_config=OpenAPIConfig(
            title="Herald", version="0.1.0", path="/schema", render_plugins=[JsonRenderPlugin()],
        ),
        # Same-origin by default: the browser client is served by Herald itself.
        cors_config=None if not settings.cors_origins else CORSConfig(
            allow_origins=list(settings.cors_origins), allow_credentials=True,
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID", REQUEST_ID_HEADER],
            expose_headers=["Retry-After", REQUEST_ID_HEADER]),
        debug=False,
    )


class HeraldApp(Litestar):
    """Litestar, plus the server's own ``send`` kept in the scope for the SSE fast path (see sse.py),
    and the request id (logs.py) around everything, routed or not.

    Litestar's middleware wraps ``send``; the stream needs the server's to reach its transport.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._outer = RequestIdMiddleware(super().__call__)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope[RAW_SEND] = send
        await self._outer(scope, receive, send)


def app_from_environment() -> Litestar:
    """The factory ``herald serve`` hands to uvicorn, so each worker process builds its own app."""
    from herald.settings import load_settings

    return create_app(load_settings())


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
