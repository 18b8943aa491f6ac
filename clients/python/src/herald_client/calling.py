"""Running ``Call``s: credentials on every request, and retries of what Herald asked to retry.

Shared by the producers and the subscriber. A retry happens on 429 and 503
(at least ``Retry-After`` later), on any other 5xx (a proxy's 502), and on no answer
at all; never on an answer that says the request itself is wrong.
"""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from typing import Awaitable, Callable, Concatenate, Mapping, ParamSpec, Protocol, TypeVar

from herald_client.errors import HeraldError
from herald_client.http import AsyncTransport, Call, Request, SyncTransport, finish
from herald_client.retry import Backoff

P = ParamSpec("P")
T = TypeVar("T")
log = logging.getLogger("herald_client")


class Retrying:
    def __init__(self, credentials: Mapping[str, str], retries: int, backoff: Backoff) -> None:
        self.retries = retries
        self.backoff = backoff
        self._credentials = dict(credentials)

    def authorized(self, request: Request) -> Request:
        return dataclasses.replace(request, headers={**self._credentials, **request.headers})

    def retry_delay(self, request: Request, error: HeraldError, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None to raise ``error`` now."""
        if not error.retryable or attempt >= self.retries or not self.backoff.waits_out(error):
            return None
        delay = self.backoff.delay(attempt, error)
        log.info("%s %s: %s; retry %d of %d in %.2f s", request.method, request.path, error.error, attempt + 1,
                 self.retries, delay)
        return delay

    def run_sync(self, transport: SyncTransport, call: Call[T]) -> T:
        request = self.authorized(call.request)
        attempt = 0
        while True:
            try:
                return finish(call, transport.send(request))
            except HeraldError as error:
                delay = self.retry_delay(request, error, attempt)
                if delay is None:
                    raise
            time.sleep(delay)
            attempt += 1

    async def run_async(self, transport: AsyncTransport, call: Call[T]) -> T:
        request = self.authorized(call.request)
        attempt = 0
        while True:
            try:
                return finish(call, await transport.send(request))
            except HeraldError as error:
                delay = self.retry_delay(request, error, attempt)
                if delay is None:
                    raise
            await asyncio.sleep(delay)
            attempt += 1


class SyncCaller(Protocol):
    def call(self, call: Call[T]) -> T: ...


class AsyncCaller(Protocol):
    async def call(self, call: Call[T]) -> T: ...


def sync_method(builder: Callable[P, Call[T]]) -> Callable[Concatenate[SyncCaller, P], T]:
    """A client method from an ``api.py`` builder: its signature and docstring, which type checkers see too."""
    @functools.wraps(builder)
    def method(self: SyncCaller, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self.call(builder(*args, **kwargs))
    return method


def async_method(builder: Callable[P, Call[T]]) -> Callable[Concatenate[AsyncCaller, P], Awaitable[T]]:
    """The coroutine flavour of ``sync_method``."""
    @functools.wraps(builder)
    async def method(self: AsyncCaller, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.call(builder(*args, **kwargs))
    return method
