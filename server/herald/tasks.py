"""Background tasks: how Herald's services end the loops they started.

Every service (the gateway's sweep, the Redis listener, the push sender, the
receipts writer, the admin sampler, the pruner) runs one or two loops that
only end by cancellation; stopping one means cancelling it and waiting until
it has unwound, its ``CancelledError`` being the expected end, not an error.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Awaitable, Callable, Iterable

log = logging.getLogger("herald.tasks")


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


async def drain_queue(what: str, run_once: Callable[[], Awaitable[int]], next_due: Callable[[], Awaitable[float]],
                      wake: asyncio.Event, *, batch: int, idle_seconds: float) -> None:
    """The loop of a worker over a table of due rows (pushes, webhook deliveries), until cancelled.

    ``run_once`` claims, sends and settles up to ``batch`` rows and says how many it claimed: a
    full batch means more are due now, so it runs again at once; otherwise the loop sleeps until
    ``next_due`` seconds pass or ``wake`` is set by a commit on this node. A failing round or
    database leaves the rows where they are, to be retried: it is logged, never the loop's end.
    """
    while True:
        try:
            claimed = await run_once()
        except Exception:  # noqa: BLE001 - the rows stay; the next round retries them
            log.exception("%s round failed", what)
            claimed = 0
        if claimed >= batch:
            continue
        try:
            delay = await next_due()
        except Exception:  # noqa: BLE001 - the database is back soon; poll meanwhile
            delay = idle_seconds
        wake.clear()
        await wait_event(wake, delay)


async def repeat(what: str, run_once: Callable[[], Awaitable[Any]], seconds: float,
                 failed: Callable[[], None] | None = None) -> None:
    """Run ``run_once`` every ``seconds`` until cancelled (the sweeps: retention, expiry, snooze).

    A failing round is logged, and counted by ``failed``, never the loop's end: the next round retries.
    """
    while True:
        try:
            await run_once()
        except Exception:  # noqa: BLE001 - retried next round
            if failed is not None:
                failed()
            log.exception("%s failed", what)
        await asyncio.sleep(seconds)


def seconds_until(due_ms: int | None, now_ms: int, idle_seconds: float) -> float:
    """How long a worker sleeps before the next due row: never past ``idle_seconds``, so rows that
    another node queued are found at least that often, and never below zero."""
    if due_ms is None:
        return idle_seconds
    return min(idle_seconds, max(0.0, (due_ms - now_ms) / 1000))
