"""The one place that writes error responses: Herald's errors, Litestar's, the database's, and the rest.

Every error leaves Herald as ``{"error": "<stable_code>", "message": "..."}``
(the catalogue is ``herald.errors``); this module also declares that body in
the OpenAPI document for every status a route can answer.
"""
from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from herald.api.guards import json_body
from herald.errors import HeraldError

log = logging.getLogger("herald.errors")


# Litestar's own HTTP exceptions, mapped to stable codes by status.
_STATUS_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


def error_response(code: str, status: int, message: str, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        content={"error": code, "message": message},
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers or {},
    )


def _herald(_: Request, exc: HeraldError) -> Response[Any]:
    return error_response(exc.code, exc.status, exc.message, exc.headers)


def _validation(_: Request, exc: ValidationException) -> Response[Any]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    first = extra[0] if extra and isinstance(extra[0], dict) else {}
    key, message = first.get("key"), str(first.get("message", ""))
    # Litestar gives the source as a ParamType, a str enum that formats as "ParamType.QUERY".
    source = getattr(first.get("source"), "value", first.get("source"))
    if source == "body" and key == "data" and message == "'data'":
        return error_response("invalid_json", 400, "A JSON request body is required.")
    if not first:
        return error_response("invalid_request", 400, exc.detail or "Invalid request.")
    where = f"{source} parameter {key!r}" if source in ("query", "path", "header", "cookie") else f"field {key!r}"
    return error_response("invalid_request", 400, f"{where}: {message}" if key else message)


def _http(_: Request, exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    code = _STATUS_CODES.get(status, "invalid_request" if status < 500 else "internal_error")
    message = exc.detail if exc.detail and exc.detail != str(status) else code.replace("_", " ").capitalize() + "."
    if status == 413:
        message = "The request body is too large."
    if status == 400 and _is_decode_error(message):
        return error_response("invalid_json", 400, "The request body is not valid JSON.")
    headers = dict(exc.headers or {})
    return error_response(code, status, message, headers)


def _is_decode_error(detail: str) -> bool:
    # Litestar reports msgspec's decode failures as a plain 400 with msgspec's text.
    return detail.startswith(("JSON is malformed", "Input data was truncated", "Invalid JSON"))


def _database(request: Request, exc: Exception) -> Response[Any]:
    services = getattr(request.app.state, "services", None)
    if services is not None:
        services.metrics.database_errors.labels("request").inc()
    if _out_of_space(exc):
        # 503, not 507: the producer's answer is the same as for any database outage (retry after a
        # while, the notification is not stored), and 503 with Retry-After is what clients already
        # retry; the message and this error-level log tell the operator what to fix.
        log.error("database out of disk space: %s", exc)
        return error_response("unavailable", 503, "The database is out of disk space; try again later.",
                              {"Retry-After": "30"})
    log.warning("database unavailable: %s", exc)
    return error_response("unavailable", 503, "The database is unavailable; try again shortly.", {"Retry-After": "5"})


def _sqlstate(exc: Exception) -> str:
    return str(getattr(getattr(exc, "orig", None), "sqlstate", "") or "")


def _out_of_space(exc: Exception) -> bool:
    # SQLite's SQLITE_FULL, and PostgreSQL's disk_full (SQLSTATE 53100).
    return "database or disk is full" in str(getattr(exc, "orig", exc)) or _sqlstate(exc) == "53100"


def _database_refused(request: Request, exc: DBAPIError) -> Response[Any]:
    # SQLAlchemy raises several asyncpg failures as a plain DBAPIError, not an OperationalError.
    if exc.connection_invalidated or _sqlstate(exc).startswith(("53", "57P", "08")):
        # The connection died under the query ("closed in the middle of operation"), or the server is
        # out of resources (class 53: disk, memory, connections), shutting down (57P) or unreachable (08).
        return _database(request, exc)
    # SQLSTATE class 22 is "data exception": a value the database cannot take, such as a NUL
    # character in a text column on PostgreSQL. It came from the request, so it is the client's 400.
    if _sqlstate(exc).startswith("22"):
        log.warning("database refused a value on %s %s: %s", request.method, request.url.path, exc.orig)
        return error_response("invalid_request", 400, "The request holds a value that cannot be stored "
                                                      "(such as a NUL character).")
    return _unexpected(request, exc)


def _unexpected(request: Request, exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response("internal_error", 500, "Something went wrong on our side.")


def _msgspec(_: Request, exc: msgspec.DecodeError) -> Response[Any]:
    return error_response("invalid_json", 400, "The request body is not valid JSON.")


EXCEPTION_HANDLERS = {
    HeraldError: _herald,
    ValidationException: _validation,
    HTTPException: _http,
    msgspec.DecodeError: _msgspec,
    OperationalError: _database,
    InterfaceError: _database,
    PoolTimeout: _database,
    DBAPIError: _database_refused,
    ConnectionError: _database,
    # A database that does not answer in time (the driver's connect or command timeout) is gone for now.
    TimeoutError: _database,
    Exception: _unexpected,
}


class ErrorBody(msgspec.Struct):
    """Every error response (design section 8)."""

    error: str
    """A stable code clients may branch on: invalid_request, invalid_json, invalid_cursor, unauthorized, ..."""
    message: str
    """A sentence for humans; may be reworded between versions."""


_DESCRIPTIONS = {
    400: "Invalid request: `invalid_request`, `invalid_json` or `invalid_cursor`.",
    401: "`unauthorized`: missing, invalid or expired credentials.",
    403: "`forbidden`: e.g. the session cookie sent by a page of an origin not in `HERALD_CORS_ORIGINS`.",
    404: "`not_found`: no such resource, or not yours.",
    413: "`payload_too_large`: the request body is over the limit.",
    415: "`unsupported_media_type`: send `Content-Type: application/json`.",
    429: "`rate_limited`; see `Retry-After`.",
    503: "`unavailable`: the database (or the bus) is unreachable; see `Retry-After`.",
}
_CREDENTIALS = frozenset({"producer", "user_id"})
_NOT_INPUT = frozenset({"self", "request", "socket", "data"}) | _CREDENTIALS


def documented_errors(handler: HTTPRouteHandler) -> set[int]:
    """The error statuses a handler can answer, from what it takes; ``raises=[...]`` adds the rest (e.g. 404)."""
    statuses = {exc.status_code for exc in handler.raises or ()}
    parameters = set(handler.parsed_fn_signature.parameters)
    authenticated = bool(_CREDENTIALS & set(handler.resolve_dependencies()))
    if parameters - _NOT_INPUT:
        statuses.add(400)
    if "data" in parameters:
        statuses |= {400, 413}
    if json_body in [getattr(guard, "func", guard) for guard in handler.resolve_guards()]:  # sync guards come wrapped
        statuses.add(415)
    if authenticated:
        statuses.add(401)
    if "user_id" in handler.resolve_dependencies() and handler.http_methods - {"GET", "HEAD", "OPTIONS"}:
        statuses.add(403)  # the session cookie from an origin that may not use it (api/origin.py)
    if authenticated or "data" in parameters:
        statuses.add(503)  # those read or write the database
    return statuses


class ErrorResponses(ReceiveRoutePlugin):
    """Declares the contract's error body in the OpenAPI document for every status a route can answer.

    Litestar would otherwise document its own ``{"status_code", "detail"}`` body, which Herald never sends.
    """

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        for handler in route.route_handlers:
            if not handler.include_in_schema:
                continue
            errors = {status: ResponseSpec(ErrorBody, description=_DESCRIPTIONS[status], generate_examples=False)
                      for status in sorted(documented_errors(handler))}
            handler.responses = {**errors, **(handler.responses or {})}
