"""CPython's transport: httpx, sync and async (``pip install "herald-client[httpx]"``).

The stream is a plain streaming GET read through ``SSEParser``. Its read
timeout is a few heartbeats: Herald writes at least a comment every 15 s, so a
longer silence means a connection that died without a FIN (a NAT, a sleeping
laptop), and the subscriber reconnects.
"""
from __future__ import annotations

from typing import AsyncIterator

import httpx

from herald_client.errors import ConnectionFailed, error_from_response
from herald_client.http import Request, Response, ServerEvent
from herald_client.sse import SSEParser

STREAM_READ_TIMEOUT_SECONDS = 45.0


def _headers(request: Request) -> dict[str, str]:
    headers = {"Accept": "application/json", **request.headers}
    if request.json is not None:
        headers["Content-Type"] = "application/json"
    return headers


def _response(response: httpx.Response) -> Response:
    return Response(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)


class HttpxTransport:
    """Blocking requests over one ``httpx.Client`` (connection pooling, keep-alive)."""

    def __init__(self, url: str, *, timeout_seconds: float = 10.0, client: httpx.Client | None = None) -> None:
        self.client = client or httpx.Client(base_url=url, timeout=timeout_seconds)

    def send(self, request: Request) -> Response:
        try:
            answer = self.client.request(request.method, request.path, params=dict(request.params),
                                         content=request.body(), headers=_headers(request))
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"{request.method} {request.path}: {exc!r}") from exc
        return _response(answer)

    def close(self) -> None:
        self.client.close()


class AsyncHttpxTransport:
    """Requests and SSE streams over one ``httpx.AsyncClient``."""

    def __init__(self, url: str, *, timeout_seconds: float = 10.0, client: httpx.AsyncClient | None = None) -> None:
        self.client = client or httpx.AsyncClient(base_url=url, timeout=timeout_seconds)
        self.timeout_seconds = timeout_seconds

    async def send(self, request: Request) -> Response:
        try:
            answer = await self.client.request(request.method, request.path, params=dict(request.params),
                                               content=request.body(), headers=_headers(request))
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"{request.method} {request.path}: {exc!r}") from exc
        return _response(answer)

    async def open_stream(self, request: Request) -> HttpxEventStream:
        headers = {**request.headers, "Accept": "text/event-stream"}
        timeout = httpx.Timeout(self.timeout_seconds, read=STREAM_READ_TIMEOUT_SECONDS)
        outgoing = self.client.build_request("GET", request.path, params=dict(request.params), headers=headers,
                                             timeout=timeout)
        try:
            response = await self.client.send(outgoing, stream=True)
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"stream: {exc!r}") from exc
        if response.status_code != 200:
            try:
                body = await response.aread()
            except httpx.TransportError:
                body = b""
            finally:
                await response.aclose()
            raise error_from_response(response.status_code, {k.lower(): v for k, v in response.headers.items()}, body)
        return HttpxEventStream(response)

    async def aclose(self) -> None:
        await self.client.aclose()


class HttpxEventStream:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[ServerEvent]:
        parser = SSEParser()
        try:
            async for chunk in self._response.aiter_raw():
                for event in parser.feed(chunk):
                    yield event
        except (httpx.TransportError, httpx.StreamError) as exc:  # a read timeout, or aclose() meanwhile
            raise ConnectionFailed(f"stream: {exc!r}") from exc
        raise ConnectionFailed("the stream ended")

    async def aclose(self) -> None:
        await self._response.aclose()
