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




def test_access_log_off_leaves_uvicorn_s_access_logger_without_a_handler_anywhere() -> None:
    from logging.config import dictConfig

    from herald.logs import uvicorn_log_config
    from herald.settings import load_settings

    access, root = logging.getLogger("uvicorn.access"), logging.getLogger()
    before = (access.level, access.propagate, list(access.handlers), root.level, list(root.handlers))
    try:
        dictConfig(uvicorn_log_config(load_settings({"HERALD_ACCESS_LOG": "false", "HERALD_DATA_DIR": "/tmp"})))
        assert not access.hasHandlers(), "uvicorn logs a line per request whenever the logger has a handler"
        dictConfig(uvicorn_log_config(load_settings({"HERALD_DATA_DIR": "/tmp"})))
        assert access.hasHandlers()
    finally:
        access.setLevel(before[0])
        access.propagate = before[1]
        access.handlers[:] = before[2]
        root.setLevel(before[3])
        root.handlers[:] = before[4]


def test_the_polling_queue_hands_every_record_to_the_writer_in_order_and_stops_on_the_sentinel() -> None:
    from logging.handlers import QueueListener

    from herald.logs import PollingQueue

    written: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            written.append(record.getMessage())

    queue = PollingQueue()
    listener = QueueListener(queue, Collect())  # type: ignore[arg-type]
    listener.start()
    for i in range(100):
        queue.put_nowait(record(f"line {i}"))
    listener.stop()  # puts the sentinel, then waits for the writer to reach it
    assert written == [f"line {i}" for i in range(100)]


def test_with_the_access_log_off_uvicorns_line_per_websocket_handshake_is_dropped_and_its_errors_kept() -> None:
    from logging.config import dictConfig

    from herald.logs import uvicorn_log_config
    from herald.settings import load_settings

    logger = logging.getLogger("uvicorn.error")
    handshake = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]',
                                  ("127.0.0.1:5000", "/api/notifications/ws"), None)
    failure = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "Exception in ASGI application", (), None)
    try:
        dictConfig(uvicorn_log_config(load_settings({"HERALD_ACCESS_LOG": "false"})))
        assert not logger.filter(handshake)
        assert logger.filter(failure)
        logger.filters.clear()  # dictConfig adds filters, it never removes one: as a fresh process would start
        dictConfig(uvicorn_log_config(load_settings({"HERALD_ACCESS_LOG": "true"})))
        assert logger.filter(handshake), "an access log that is on logs handshakes too"
    finally:
        logger.filters.clear()


def test_made_up_request_ids_are_32_hex_digits_and_never_repeat() -> None:
    from herald.logs import _new_request_id

    ids = {_new_request_id() for _ in range(10_000)}
    assert len(ids) == 10_000 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
