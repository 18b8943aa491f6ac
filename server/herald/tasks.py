"""Background tasks: how Herald's services end the loops they started.

Every service (the gateway's sweep, the Redis listener, the push sender, the
receipts writer, the admin sampler, the pruner) runs one or two loops that
only end by cancellation; stopping one means cancelling it and waiting until
it has unwound, its ``CancelledError`` being the expected end, not an error.
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Iterable


async def cancel(tasks: Iterable[asyncio.Future[Any] | None]) -> None:
    """Cancel each task, then wait until each has ended."""
    running = [task for task in tasks if task is not None]
    for task in running:
        task.cancel()
    for task in running:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` pass; True if it was set.

    Not ``asyncio.wait_for``: on Python 3.11 it swallows a cancellation that
    arrives as the event is set (python/cpython#86296), and a loop waiting
    that way would outlive the ``cancel`` that was meant to stop it.
    """
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
