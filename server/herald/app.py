"""``create_app(settings)``: the whole Herald app, with no module-level state."""
from __future__ import annotations

import logging
from typing import Any

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.config.cors import CORSConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from herald.admin.router import admin_router
from herald.api.demo import DemoController
from herald.api.devices import DevicesController
from herald.api.errors import EXCEPTION_HANDLERS, ErrorResponses
from herald.api.inbox import InboxController
from herald.api.preferences import PreferencesController, report_presence
from herald.api.ops import consume_readyz, healthz, metrics, readyz
from herald.api.producer import ProducerController
from herald.api.push import PushController
from herald.api.pyodide import python_demo_page
from herald.api.scheduled import ScheduledController
from herald.api.session import SessionController
from herald.api.triage import TriageController
from herald.api.static import demo_page, service_worker, static_files
from herald.api.websocket import notifications_ws
from herald.delivery.sse import RAW_SEND
from herald.logs import REQUEST_ID_HEADER, RequestIdMiddleware, litestar_logging
from herald.services import Services
from herald.settings import Settings

STREAM_PATH = "/api/notifications/stream"

log = logging.getLogger("herald")


def create_app(settings: Settings) -> Litestar:
    services = Services.build(settings)

    async def on_startup(app: Litestar) -> None:
        app.state.services = services
        await services.start()

    async def on_shutdown(_: Litestar) -> None:
        await services.stop()

    handlers: list = [ProducerController, InboxController, TriageController, notifications_ws, SessionController,
                      PushController, DevicesController, ScheduledController, PreferencesController, report_presence,
                      healthz, readyz, metrics,
                      service_worker, admin_router(settings), *static_files()]
    if not settings.is_production:
        handlers += [DemoController, demo_page, python_demo_page]

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
    """Litestar, plus the server's own ``send`` kept in the scope for the fast paths (delivery/sse.py,
    delivery/websocket_sinks.py),
    and the request id (logs.py) around everything, routed or not.

    Litestar's middleware wraps ``send``; the stream needs the server's to reach its transport.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._outer = RequestIdMiddleware(super().__call__)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            scope[RAW_SEND] = send
        await self._outer(scope, receive, send)


def app_from_environment() -> Litestar:
    """The factory ``herald serve`` hands to uvicorn, so each worker process builds its own app."""
    from herald.settings import load_settings

    return create_app(load_settings())


def create_consume_app(settings: Settings) -> Litestar:
    """``herald consume``: the same services as ``herald serve``, with only the operations endpoints.

    Unlike a serving node's, this process's readiness fails when a source is unhealthy:
    consuming is all it does (api/ops.py, ``consume_readyz``).
    """
    built = Services.build(settings)

    async def on_startup(app: Litestar) -> None:
        app.state.services = built
        await built.start()

    async def on_shutdown(_: Litestar) -> None:
        await built.stop()

    return Litestar(route_handlers=[healthz, consume_readyz, metrics], on_startup=[on_startup],
                    on_shutdown=[on_shutdown], exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
                    logging_config=litestar_logging(settings), debug=False)
