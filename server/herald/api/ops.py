"""Operations endpoints: liveness, readiness (of a serving node, and of a ``herald consume`` process) and Prometheus metrics."""
from __future__ import annotations

import logging

from litestar import Request, Response, get
from litestar.exceptions import ServiceUnavailableException
from prometheus_client import CONTENT_TYPE_LATEST

from herald.api.auth import services
from herald.api.errors import error_response
from herald.consume import statuses

log = logging.getLogger("herald.ops")


@get("/healthz", tags=["operations"], include_in_schema=True)
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@get("/readyz", tags=["operations"], raises=[ServiceUnavailableException])
async def readyz(request: Request) -> Response[dict[str, object]]:
    """The database (and Redis, when configured) answer; 503 otherwise. With log consumers, each source's state."""
    s = services(request)
    checks = {"database": s.db.ping, "bus": s.fanout.ping}
    for name, check in checks.items():
        try:
            await check()
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            errors = s.metrics.database_errors if name == "database" else s.metrics.redis_errors
            if name == "database" or s.settings.redis_url:
                errors.labels("readiness").inc()
            log.warning("readiness: %s unavailable: %s", name, exc)
            return error_response("unavailable", 503, f"The {name} is unreachable.", {"Retry-After": "5"})
    if not s.consumers:
        return Response({"status": "ok"})
    # A log source that is down leaves this node ready: it still takes HTTP publishes and delivers live,
    # and every node would fail alike, emptying the load balancer. The body says which source is unhealthy.
    sources = statuses(s.consumers)
    return Response({"status": "ok" if all(state == "ok" for state in sources.values()) else "degraded",
                     "sources": sources})


@get("/readyz", tags=["operations"], raises=[ServiceUnavailableException])
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


@get("/metrics", tags=["operations"], media_type=CONTENT_TYPE_LATEST)
async def metrics(request: Request) -> Response[bytes]:
    """Prometheus text format."""
    s = services(request)
    return Response(s.metrics.render(), media_type=CONTENT_TYPE_LATEST)
