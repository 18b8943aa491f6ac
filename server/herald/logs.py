"""Logging: readable lines in development, JSON lines when configured, a request id, and no secrets.

- ``HERALD_LOG_FORMAT=json``: one JSON object per line (python-json-logger),
  with ``time``, ``level``, ``logger``, ``message`` and ``request_id``; text
  lines otherwise. ``herald serve`` hands the same configuration to uvicorn
  (its startup and access lines) and the app to Litestar's ``LoggingConfig``,
  whose queue handler keeps log writes off the event loop. Herald's queue
  (``PollingQueue``) wakes no thread per record: the writer looks every
  ``LOG_POLL_SECONDS``. With a line per request (the access log), waking the
  writer each time cost more than the rest of a publish's thread hand-overs.
- Request id: ``RequestIdMiddleware`` takes an incoming ``X-Request-ID`` when
  it is sane (1-128 characters of letters, digits and ``._:-``), else makes
  one; returns it as a response header and puts it on every log record made
  while the request is served (``request_id``; ``-`` outside requests).
- No secrets: Herald never logs headers, cookies or bodies, and the filter on
  the handler redacts what could still slip into a message or a traceback
  (an exception quoting its input, a token a client put in a URL): the
  configured API keys and signing secret, JWTs (subscriber and session
  tokens), admin-console keys, ``Bearer`` credentials, Herald's cookies,
  and FCM and APNs device tokens.
"""
from __future__ import annotations

import collections
import itertools
import logging
import os
import queue
import re
import sys
import time
import uuid
from contextvars import ContextVar
from logging.handlers import QueueHandler
from typing import Any, Iterable

from litestar.datastructures import Headers
from litestar.logging.config import LoggingConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from herald.settings import Settings

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_NAME = REQUEST_ID_HEADER.lower().encode()
_SANE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
request_id: ContextVar[str] = ContextVar("herald_request_id", default="-")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
REDACTED = "[redacted]"
_PATTERNS = re.compile("|".join((
    r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+",  # a JWT: subscriber and session tokens
    r"(?<=[Bb]earer )[^\s\"',;]+",
    r"\bhk_[A-Za-z0-9_\-]{16,}",  # keys made in the admin console
    r"(?<=herald_session=)[^;\s\"']+",
    r"(?<=herald_admin_session=)[^;\s\"']+",
    r"(?<=herald_admin_csrf=)[^;\s\"']+",
    r"\b(?:[0-9a-fA-F]{2}){32,100}\b",  # an APNs device token (push/devices.py logs only a hint)
    r"\b[A-Za-z0-9_\-]{8,}:APA91[A-Za-z0-9_\-]{20,}",  # an FCM registration token
)))


# A request id names one request in the logs; it protects nothing, so it need not be unpredictable:
# a random prefix per process and a counter (no uuid4, whose urandom call and UUID object were a
# measurable part of a storm of stream opens), 32 hex digits as before.
_id_prefix = uuid.uuid4().hex[:16]
_id_counter = itertools.count(1)


def _new_request_id() -> str:
    return f"{_id_prefix}{next(_id_counter) & 0xFFFF_FFFF_FFFF_FFFF:016x}"


def _new_id_prefix() -> None:
    global _id_prefix
    _id_prefix = uuid.uuid4().hex[:16]


os.register_at_fork(after_in_child=_new_id_prefix)  # uvicorn's workers are spawned; a fork must not share ids


class RequestIdMiddleware:
    """Pure ASGI, outside Litestar's routing, so that answers matching no route carry the id too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = Headers.from_scope(scope).get(REQUEST_ID_HEADER)
        value = incoming if incoming and _SANE_ID.fullmatch(incoming) else _new_request_id()
        token = request_id.set(value)
        header = (_REQUEST_ID_NAME, value.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                # The id replaces any the app set. Raw pairs, not MutableScopeHeaders, which decodes
                # every header of every response (1.7 % of a storm of stream opens).
                headers = [pair for pair in message.get("headers") or () if pair[0].lower() != _REQUEST_ID_NAME]
                headers.append(header)
                message["headers"] = headers  # type: ignore[typeddict-unknown-key]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


class LogFilter(logging.Filter):
    """Adds ``request_id``; redacts secrets from the message and the traceback. Runs in the logging thread's caller."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        known = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)
        self._known = re.compile("|".join(map(re.escape, known))) if known else None

    def redact(self, text: str) -> str:
        if self._known is not None:
            text = self._known.sub(REDACTED, text)
        return _PATTERNS.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        # uvicorn's coloured copy of the format string: noise in JSON, and never redacted.
        record.__dict__.pop("color_message", None)
        return True


def _formatter(settings: Settings) -> dict[str, Any]:
    if settings.log_format == "json":
        return {"()": "pythonjsonlogger.json.JsonFormatter", "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s",
                "rename_fields": {"levelname": "level", "name": "logger"}, "timestamp": "time"}
    return {"format": TEXT_FORMAT}


def _secrets(settings: Settings) -> list[str]:
    return [*settings.api_keys, settings.secret, settings.vapid_private_key]


class WebSocketAccessFilter(logging.Filter):
    """Drops uvicorn's line per WebSocket handshake ("WebSocket /path" [accepted], 403, ...) when the access log is off.

    uvicorn writes it on ``uvicorn.error`` whatever ``access_log`` says; in a reconnect storm of
    20,000 sockets it was a fifth of the time each handshake took.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith('%s - "WebSocket %s"'))


_LIBRARY_LOGGERS = {name: {"level": "INFO", "handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")}
# Alembic names each plugin it sets up at every start; the migrations it runs are still logged.
_LIBRARY_LOGGERS["alembic.runtime.plugins"] = {"level": "WARNING", "handlers": [], "propagate": True}
# httpx names every request at INFO: a line per push to FCM or APNs (whose URL holds the device token).
for _name in ("httpx", "httpcore"):
    _LIBRARY_LOGGERS[_name] = {"level": "WARNING", "handlers": [], "propagate": True}


LOG_POLL_SECONDS = 0.02


class PollingQueue:
    """The few ``queue.Queue`` methods ``QueueListener`` uses; ``put_nowait`` appends and wakes nobody."""

    def __init__(self) -> None:
        self._items: collections.deque[Any] = collections.deque()

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)  # atomic under the GIL, from any thread

    def get(self, block: bool = True) -> Any:
        while True:
            try:
                return self._items.popleft()
            except IndexError:
                if not block:
                    raise queue.Empty from None
                time.sleep(LOG_POLL_SECONDS)


class PollingQueueHandler(QueueHandler):
    """Litestar's ``QueueListenerHandler`` (Python 3.11) on a ``PollingQueue``: lines reach stderr within 20 ms."""

    def __init__(self, handlers: list[Any] | None = None) -> None:
        from litestar.logging._utils import resolve_handlers
        from litestar.logging.standard import LoggingQueueListener

        super().__init__(PollingQueue())  # type: ignore[arg-type]
        resolved = resolve_handlers(handlers) if handlers else [logging.StreamHandler()]
        self.listener = LoggingQueueListener(self.queue, *resolved)  # type: ignore[arg-type]


def _library_loggers(settings: Settings) -> dict[str, Any]:
    loggers = dict(_LIBRARY_LOGGERS)
    if not settings.access_log:
        # uvicorn's own switch only empties this logger's handlers; the configuration above would make it
        # propagate to the root again, and uvicorn logs whenever the logger has a handler up the tree.
        loggers["uvicorn.access"] = {"level": "WARNING", "handlers": [], "propagate": False}
        loggers["uvicorn.error"] = {**_LIBRARY_LOGGERS["uvicorn.error"], "filters": ["websocket_access"]}
    return loggers


def _filters(settings: Settings) -> dict[str, Any]:
    return {"herald": {"()": LogFilter, "secrets": _secrets(settings)}, "websocket_access": {"()": WebSocketAccessFilter}}


def litestar_logging(settings: Settings) -> LoggingConfig:
    """The app's logging: everything through one queue handler to stderr, formatted and filtered as above."""
    config = LoggingConfig(
        formatters={"standard": _formatter(settings)},
        filters=_filters(settings),
        loggers={"litestar": {"level": "INFO", "handlers": ["queue_listener"], "propagate": False},
                 **_library_loggers(settings)},
        root={"handlers": ["queue_listener"], "level": "INFO"},
        # errors.py logs unexpected exceptions itself, once, through the filter.
        log_exceptions="never",
    )
    # On the queue's entry, not its console end: the request id is a context variable of the caller.
    config.handlers["queue_listener"]["filters"] = ["herald"]
    if sys.version_info < (3, 12):  # from 3.12 Litestar configures the standard QueueHandler instead
        config.handlers["queue_listener"]["class"] = "herald.logs.PollingQueueHandler"
    return config


def uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    """The same format for uvicorn's own lines (startup, access log) in ``herald serve`` and its workers."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"standard": _formatter(settings)},
        "filters": _filters(settings),
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "standard", "filters": ["herald"]}},
        "loggers": _library_loggers(settings),
        "root": {"handlers": ["console"], "level": "INFO"},
    }
