"""The worker loop shared by the push and webhook senders, and the sleep it takes between rounds."""
from __future__ import annotations

import asyncio

import pytest

from herald.tasks import cancel, drain_queue, repeat, seconds_until


class Rounds:
    """A table of due rows as the loop sees it: each round claims up to a batch of what is left."""

    def __init__(self, rows: int, batch: int, fail_first: bool = False) -> None:
        self.rows, self.batch, self.fail_first = rows, batch, fail_first
        self.calls = 0
        self.asked_next_due = 0
        self.claimed = asyncio.Event()

    async def run_once(self) -> int:
        self.calls += 1
        if self.fail_first and self.calls == 1:
            raise RuntimeError("the database went away")
        claimed = min(self.batch, self.rows)
        self.rows -= claimed
        if claimed:
            self.claimed.set()
        return claimed

    async def next_due(self) -> float:
        self.asked_next_due += 1
        return 60.0


async def _run_until(rounds: Rounds, wake: asyncio.Event, condition) -> asyncio.Task[None]:
    task = asyncio.create_task(drain_queue("test", rounds.run_once, rounds.next_due, wake,
                                           batch=rounds.batch, idle_seconds=5.0))
    async with asyncio.timeout(2):
        while not condition():
            await asyncio.sleep(0.005)
    return task


async def test_full_batches_run_back_to_back_then_the_loop_sleeps_until_the_next_due_row() -> None:
    rounds, wake = Rounds(rows=250, batch=100), asyncio.Event()
    task = await _run_until(rounds, wake, lambda: rounds.asked_next_due == 1)
    await asyncio.sleep(0.05)
    # 100 + 100 + 50: two full batches go again at once; the short third one asks when to look next.
    assert (rounds.calls, rounds.rows, rounds.asked_next_due) == (3, 0, 1)
    await cancel([task])


async def test_a_wake_starts_a_round_before_the_sleep_ends() -> None:
    rounds, wake = Rounds(rows=0, batch=10), asyncio.Event()
    task = await _run_until(rounds, wake, lambda: rounds.asked_next_due == 1)
    rounds.rows = 3  # a commit on this node queued rows, and says so
    wake.set()
    async with asyncio.timeout(1):  # the loop sleeps 60 s otherwise
        await rounds.claimed.wait()
    assert rounds.rows == 0
    await cancel([task])


async def test_a_failing_round_is_logged_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    rounds, wake = Rounds(rows=5, batch=10, fail_first=True), asyncio.Event()
    task = await _run_until(rounds, wake, lambda: rounds.asked_next_due == 1)
    wake.set()
    async with asyncio.timeout(1):
        await rounds.claimed.wait()
    assert rounds.rows == 0
    assert "test round failed" in caplog.text
    await cancel([task])
    assert task.cancelled()


def test_the_sleep_is_until_the_next_due_row_within_the_idle_poll() -> None:
    assert seconds_until(None, 1_000, 5.0) == 5.0  # nothing queued: look again at the idle poll
    assert seconds_until(3_500, 1_000, 5.0) == 2.5
    assert seconds_until(60_000, 1_000, 5.0) == 5.0  # another node may queue sooner rows meanwhile
    assert seconds_until(500, 1_000, 5.0) == 0.0  # overdue: at once, never a negative sleep


async def test_a_sweep_repeats_and_a_failing_round_is_counted_logged_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    rounds, failures = [], []

    async def sweep() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("the database went away")

    task = asyncio.create_task(repeat("test sweep", sweep, 0.01, lambda: failures.append(1)))
    async with asyncio.timeout(2):
        while len(rounds) < 3:
            await asyncio.sleep(0.005)
    await cancel([task])
    assert failures == [1] and "test sweep failed" in caplog.text
    assert task.cancelled()
