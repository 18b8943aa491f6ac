"""``herald consume``: the log consumers in a process of their own, with only the operations endpoints.

The same ``Services`` as ``herald serve`` (publishing needs the database, the
bus and the push queue), but no API: ``/healthz``, ``/readyz`` and
``/metrics`` only, for the orchestrator and Prometheus. Unlike a serving
node's, this process's readiness fails when a source is unhealthy: consuming
is all it does, so a source it cannot reach makes it not ready.
"""
from __future__ import annotations

from litestar import Litestar, Request, Response, get

from herald.api_ops import healthz, metrics
from herald.auth import services
from herald.consume import statuses
from herald.errors import EXCEPTION_HANDLERS, error_response
from herald.logs import litestar_logging
from herald.services import Services
from herald.settings import Settings


def create_consume_app(settings: Settings) -> Litestar:
    built = Services.build(settings)

    async def on_startup(app: Litestar) -> None:
        app.state.services = built
        await built.start()

    async def on_shutdown(_: Litestar) -> None:
        await built.stop()

    return Litestar(route_handlers=[healthz, consume_readyz, metrics], on_startup=[on_startup],
                    on_shutdown=[on_shutdown], exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
                    logging_config=litestar_logging(settings), debug=False)


@get("/readyz", tags=["operations"])
async def consume_readyz(request: Request) -> Response[dict[str, object]]:
    """The database and bus answer, and every source is up; 503 naming what is not."""
    s = services(request)
    for name, check in (("database", s.db.ping), ("bus", s.fanout.ping)):
        try:
            await check()
        except Exception:  # noqa: BLE001 - any failure means not ready
            return error_response("unavailable", 503, f"The {name} is unreachable.", {"Retry-After": "5"})
    sources = statuses(s.consumers)
    down = [f"{name} ({state})" for name, state in sources.items() if state != "ok" and not state.startswith("paused")]
    if down:
        return error_response("unavailable", 503, "Source unhealthy: " + "; ".join(down), {"Retry-After": "5"})
    return Response({"status": "ok", "sources": sources})
