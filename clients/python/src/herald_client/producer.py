"""The producer clients: a product's backend publishes, mints tokens, keeps groups and topics.

``Herald`` is synchronous (httpx), ``AsyncHerald`` the same API for asyncio
(httpx on CPython, ``fetch`` in Pyodide). Every method is an ``api.py`` builder
run with the API key and the retries of ``calling.py``. Retrying a publish is
safe: all its attempts carry one idempotency key.
"""
from __future__ import annotations

from typing import TypeVar

from herald_client import api
from herald_client.calling import Retrying, async_method, sync_method
from herald_client.http import AsyncTransport, Call, SyncTransport
from herald_client.retry import Backoff

T = TypeVar("T")


class Herald:
    """Synchronous producer client: ``with Herald(url, api_key) as herald: herald.publish(...)``."""

    def __init__(self, url: str, api_key: str, *, timeout_seconds: float = 10.0, retries: int = 3,
                 backoff: Backoff = Backoff(), transport: SyncTransport | None = None) -> None:
        if transport is None:
            from herald_client.httpx_transport import HttpxTransport

            transport = HttpxTransport(url, timeout_seconds=timeout_seconds)
        self.transport = transport
        self.retrying = Retrying({"Authorization": f"Bearer {api_key}"}, retries, backoff)

    def call(self, call: Call[T]) -> T:
        """Run any ``Call`` with this client's key and retries (every method below is one)."""
        return self.retrying.run_sync(self.transport, call)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Herald:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    publish = sync_method(api.publish)
    retract = sync_method(api.retract)
    retract_key = sync_method(api.retract_key)
    cancel_scheduled = sync_method(api.cancel_scheduled)
    cancel_scheduled_key = sync_method(api.cancel_scheduled_key)
    mint_token = sync_method(api.mint_token)
    put_group = sync_method(api.put_group)
    get_group = sync_method(api.get_group)
    delete_group = sync_method(api.delete_group)
    followers = sync_method(api.followers)
    follow = sync_method(api.follow)
    unfollow = sync_method(api.unfollow)


class AsyncHerald:
    """Producer client for asyncio: ``async with AsyncHerald(url, api_key) as herald: await herald.publish(...)``."""

    def __init__(self, url: str, api_key: str, *, timeout_seconds: float = 10.0, retries: int = 3,
                 backoff: Backoff = Backoff(), transport: AsyncTransport | None = None) -> None:
        if transport is None:
            from herald_client.transports import default_async_transport

            transport = default_async_transport(url, timeout_seconds=timeout_seconds)
        self.transport = transport
        self.retrying = Retrying({"Authorization": f"Bearer {api_key}"}, retries, backoff)

    async def call(self, call: Call[T]) -> T:
        """Run any ``Call`` with this client's key and retries (every method below is one)."""
        return await self.retrying.run_async(self.transport, call)

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def __aenter__(self) -> AsyncHerald:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    publish = async_method(api.publish)
    retract = async_method(api.retract)
    retract_key = async_method(api.retract_key)
    cancel_scheduled = async_method(api.cancel_scheduled)
    cancel_scheduled_key = async_method(api.cancel_scheduled_key)
    mint_token = async_method(api.mint_token)
    put_group = async_method(api.put_group)
    get_group = async_method(api.get_group)
    delete_group = async_method(api.delete_group)
    followers = async_method(api.followers)
    follow = async_method(api.follow)
    unfollow = async_method(api.unfollow)
