"""Logs: JSON lines or readable text, a request id on every request, and no secret in any line."""
from __future__ import annotations

import logging

from herald.logs import REDACTED, LogFilter, request_id
from tests.herald_server import API_KEY, SECRET

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"


def record(message: str, *args: object, exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("herald.test", logging.WARNING, __file__, 1, message, args, exc_info)  # type: ignore[arg-type]


def test_the_filter_redacts_secrets_from_messages_and_tracebacks() -> None:
    log_filter = LogFilter(secrets=[API_KEY, SECRET, ""])
    line = record("auth %s with %s, cookie herald_session=%s; Authorization: Bearer opaque-value-123",
                  API_KEY, JWT, "c00kie-value")
    assert log_filter.filter(line)
    assert line.msg == (f"auth {REDACTED} with {REDACTED}, cookie herald_session={REDACTED}; "
                        f"Authorization: Bearer {REDACTED}")
    assert line.request_id == "-"  # type: ignore[attr-defined]
    try:
        raise ValueError(f"bad key {API_KEY} and token {JWT} and admin key hk_abcdefghijklmnopqrstuvwxyz0123")
    except ValueError as exc:
        failed = record("failed", exc_info=(type(exc), exc, exc.__traceback__))
    log_filter.filter(failed)
    assert failed.exc_info is None and failed.exc_text is not None
    assert "ValueError: bad key [redacted] and token [redacted] and admin key [redacted]" in failed.exc_text
    for secret in (API_KEY, JWT, "hk_abcdefghij"):
        assert secret not in failed.exc_text


def test_records_made_while_serving_a_request_carry_its_id() -> None:
    token = request_id.set("req-42")
    try:
        line = record("inside")
        LogFilter().filter(line)
    finally:
        request_id.reset(token)
    assert line.request_id == "req-42"  # type: ignore[attr-defined]




def test_made_up_request_ids_are_32_hex_digits_and_never_repeat() -> None:
    from herald.logs import _new_request_id

    ids = {_new_request_id() for _ in range(10_000)}
    assert len(ids) == 10_000 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
