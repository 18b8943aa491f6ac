"""Waiting for what happens in the background (a write a second later, a message through Redis)."""
from __future__ import annotations

import asyncio
import time
from typing import Any, Callable


def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll until ``check`` returns something truthy, or the timeout passes; returns its last value.

    Blocking: for tests that talk to a server in another process.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


async def eventually_async(check: Callable[[], Any], timeout: float = 10.0) -> None:
    """The same for code under test on this event loop, which ``time.sleep`` would block; fails on timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "not within the timeout"
        await asyncio.sleep(0.02)
