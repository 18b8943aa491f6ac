"""Operations endpoints: liveness, readiness and Prometheus metrics."""
from __future__ import annotations

import logging

from litestar import Request, Response, get
from litestar.exceptions import ServiceUnavailableException
from prometheus_client import CONTENT_TYPE_LATEST

from herald.api.auth import services
from herald.api.errors import error_response

log = logging.getLogger("herald.ops")


@get("/healthz", tags=["operations"], include_in_schema=True)
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@get("/readyz", tags=["operations"], raises=[ServiceUnavailableException])
async def readyz(request: Request) -> Response[dict[str, str]]:
    """The database (and Redis, when configured) answer; 503 otherwise."""
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
    return Response({"status": "ok"})


@get("/metrics", tags=["operations"], media_type=CONTENT_TYPE_LATEST)
async def metrics(request: Request) -> Response[bytes]:
    """Prometheus text format."""
    s = services(request)
    return Response(s.metrics.render(), media_type=CONTENT_TYPE_LATEST)
