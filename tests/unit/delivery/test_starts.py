"""StartLoader: where opening streams start, read for many users per query."""
from __future__ import annotations

import asyncio

import pytest

from herald.delivery.starts import START_BATCH, START_QUERIES, StartLoader
from herald.inbox import NEW_USER, StreamStart


class Inbox:
    """Answers stream_starts from a dict; each query waits until the test releases it."""

    def __init__(self, heads: dict[str, StreamStart]) -> None:
        self.heads = heads
        self.queries: list[list[str]] = []
        self.release = asyncio.Event()
        self.fail: Exception | None = None

    async def stream_starts(self, user_ids: list[str]) -> dict[str, StreamStart]:
        self.queries.append(list(user_ids))
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return {user_id: self.heads.get(user_id, NEW_USER) for user_id in user_ids}


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_each_user_gets_its_own_head_from_one_shared_query() -> None:
    inbox = Inbox({"a": StreamStart(7, 2, 3), "b": StreamStart(40, 0, 0)})
    loader = StartLoader(inbox)  # type: ignore[arg-type]
    inbox.release.set()
    starts = await asyncio.gather(loader.load("a"), loader.load("b"), loader.load("a"), loader.load("new"))
    assert starts == [StreamStart(7, 2, 3), StreamStart(40, 0, 0), StreamStart(7, 2, 3), NEW_USER]
    assert inbox.queries == [["a", "b", "new"]], "one query, each user once"


async def test_opens_that_arrive_while_a_query_runs_wait_and_share_the_next_one() -> None:
    inbox = Inbox({f"u{i}": StreamStart(i, 0, i) for i in range(20)})
    loader = StartLoader(inbox)  # type: ignore[arg-type]
    first = asyncio.ensure_future(loader.load("u0"))
    await settle()
    later = [asyncio.ensure_future(loader.load(f"u{i}")) for i in range(1, 20)]
    await settle()
    assert inbox.queries == [["u0"]], "a quiet server answers at once; the rest wait for the running query"
    inbox.release.set()
    assert (await first).last_seq == 0
    assert [start.last_seq for start in await asyncio.gather(*later)] == list(range(1, 20))
    assert inbox.queries == [["u0"], [f"u{i}" for i in range(1, 20)]]


async def test_full_batches_run_side_by_side_up_to_the_limit() -> None:
    inbox = Inbox({})
    loader = StartLoader(inbox)  # type: ignore[arg-type]
    opens = [asyncio.ensure_future(loader.load(f"u{i}")) for i in range(START_BATCH * (START_QUERIES + 1) + 1)]
    await settle()
    assert [len(q) for q in inbox.queries] == [START_BATCH] * START_QUERIES, \
        "a storm fills several queries at once, and no more than the limit"
    inbox.release.set()
    assert all(start == NEW_USER for start in await asyncio.gather(*opens))
    assert sum(len(q) for q in inbox.queries) == len(opens)


async def test_a_failed_query_fails_only_its_own_opens() -> None:
    inbox = Inbox({"b": StreamStart(5, 0, 0)})
    loader = StartLoader(inbox)  # type: ignore[arg-type]
    first = asyncio.ensure_future(loader.load("a"))
    await settle()
    inbox.fail = RuntimeError("database down")
    inbox.release.set()
    with pytest.raises(RuntimeError):
        await first
    inbox.fail = None
    assert await loader.load("b") == StreamStart(5, 0, 0)
