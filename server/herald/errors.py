"""The one error catalogue: every error Herald answers with, as a stable code, a status and a message.

The domain raises these; ``herald.api.errors`` is the one place that turns them
(and everything else that escapes a handler) into responses. Codes are part of
the public contract: clients branch on them, so they never change meaning;
messages are for humans and may be reworded.
"""
from __future__ import annotations


class HeraldError(Exception):
    """An error with a stable code, an HTTP status and a human message."""

    def __init__(self, code: str, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.headers = headers or {}


def invalid_request(message: str) -> HeraldError:
    return HeraldError("invalid_request", 400, message)


def invalid_cursor(message: str = "The cursor is not one this inbox issued.") -> HeraldError:
    return HeraldError("invalid_cursor", 400, message)


def unauthorized(message: str = "Missing or invalid credentials.") -> HeraldError:
    return HeraldError("unauthorized", 401, message, {"WWW-Authenticate": "Bearer"})


def forbidden(message: str) -> HeraldError:
    return HeraldError("forbidden", 403, message)


def not_found(message: str = "No such resource.") -> HeraldError:
    return HeraldError("not_found", 404, message)


def unsupported_media_type() -> HeraldError:
    return HeraldError("unsupported_media_type", 415, "Send the body as 'Content-Type: application/json'.")


def too_many_requests(message: str, retry_after_seconds: int) -> HeraldError:
    return HeraldError("rate_limited", 429, message, {"Retry-After": str(max(1, retry_after_seconds))})


def unavailable(message: str, retry_after_seconds: int = 5) -> HeraldError:
    return HeraldError("unavailable", 503, message, {"Retry-After": str(retry_after_seconds)})
