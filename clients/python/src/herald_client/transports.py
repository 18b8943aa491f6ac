"""The transport this runtime has: ``fetch`` in Pyodide, httpx on CPython."""
from __future__ import annotations

import sys

from herald_client.http import AsyncTransport

IN_PYODIDE = sys.platform == "emscripten"


def default_async_transport(url: str, *, timeout_seconds: float = 10.0) -> AsyncTransport:
    if IN_PYODIDE:
        from herald_client.pyodide_transport import FetchTransport

        return FetchTransport(url, timeout_seconds=timeout_seconds)
    try:
        from herald_client.httpx_transport import AsyncHttpxTransport
    except ImportError as exc:  # httpx is an extra, so that the core installs anywhere
        raise ImportError('herald-client needs httpx on CPython: pip install "herald-client[httpx]"') from exc
    return AsyncHttpxTransport(url, timeout_seconds=timeout_seconds)
