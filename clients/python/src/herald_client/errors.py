"""The contract's errors as exceptions: one class per status, each carrying ``error``, ``message``, ``retry_after``.

Herald answers every error as ``{"error": "<stable_code>", "message": "..."}``
(design section 8). Branch on the class or on ``error`` (stable); ``message``
is for humans and may be reworded between versions.
"""
from __future__ import annotations

import json
from typing import Mapping


class HeraldError(Exception):
    """Anything Herald refused, or could not be asked."""

    status: int | None
    error: str
    message: str
    retry_after: float | None
    """Seconds Herald asked to wait (``Retry-After``), on 429 and 503."""

    def __init__(self, error: str, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(f"{error}: {message}" if status is None else f"{status} {error}: {message}")
        self.status = status
        self.error = error
        self.message = message
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Worth asking again later: Herald was busy, unavailable or unreachable, not wrong about the request."""
        return False


class InvalidRequest(HeraldError):
    """400: ``invalid_request``, ``invalid_json`` or ``invalid_cursor``."""


class InvalidCursor(InvalidRequest):
    """400 ``invalid_cursor``: not a cursor this inbox issued."""


class Unauthorized(HeraldError):
    """401: no, a bad, or an expired API key, token or session."""


class Forbidden(HeraldError):
    """403."""


class NotFound(HeraldError):
    """404: no such resource, or not yours."""


class MethodNotAllowed(HeraldError):
    """405: the server is older or newer than this client."""


class PayloadTooLarge(HeraldError):
    """413: the request body is over Herald's limit (64 KiB by default)."""


class UnsupportedMediaType(HeraldError):
    """415."""


class RateLimited(HeraldError):
    """429: too many publishes (or connections) for now; ``retry_after`` says for how long."""

    @property
    def retryable(self) -> bool:
        return True


class Unavailable(HeraldError):
    """503: the database or the bus is unreachable for now; nothing was stored."""

    @property
    def retryable(self) -> bool:
        return True


class ServerError(HeraldError):
    """500 and other 5xx: a fault on Herald's side (or a proxy's)."""

    @property
    def retryable(self) -> bool:
        return True


class ConnectionFailed(HeraldError):
    """No answer: refused, reset, timed out. Client-side code ``connection_failed``; no status."""

    def __init__(self, message: str) -> None:
        super().__init__("connection_failed", message)

    @property
    def retryable(self) -> bool:
        return True


class StreamClosed(HeraldError):
    """The server ended this stream for good (``event: closed``), e.g. ``too_many_connections``: do not reconnect."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, "Herald closed this stream; it should not reconnect.")
        self.reason = reason


_BY_STATUS: dict[int, type[HeraldError]] = {
    400: InvalidRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed,
    413: PayloadTooLarge, 415: UnsupportedMediaType, 429: RateLimited, 503: Unavailable,
}


def error_from_response(status: int, headers: Mapping[str, str], body: bytes) -> HeraldError:
    """The exception for an error answer; a body that is not the contract's (a proxy's page) still gets its class."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        code, message = parsed["error"], str(parsed.get("message", ""))
    else:
        code, message = f"http_{status}", body[:200].decode("utf-8", "replace").strip() or f"HTTP {status}"
    cls = InvalidCursor if code == "invalid_cursor" else _BY_STATUS.get(status, ServerError if status >= 500 else HeraldError)
    return cls(code, message, status, parse_retry_after(headers.get("retry-after")))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from ``Retry-After``. Herald sends delta-seconds; an HTTP date (a proxy's) is ignored rather than guessed."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
