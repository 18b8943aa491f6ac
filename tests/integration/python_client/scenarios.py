"""Subscriber scenarios that run unchanged on CPython, in Pyodide under Node, and in Pyodide in Chromium.

Only herald_client and the standard library here: this file is copied into each
runtime. The test on the host publishes, restarts the server and asserts; a
scenario listens, reports progress lines the host waits for, and returns what
it saw as JSON. ``auth`` says how the runtime signs in: ``token`` (an
``Authorization`` header: httpx on CPython, a streaming fetch in Node) or
``cookie`` (``sign_in`` then the browser's ``EventSource``).
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

from herald_client import Backoff, HeraldError, Notification, ReadChange, Ready, Reset, Subscriber

Report = Callable[[str], None]
FAST = Backoff(base_seconds=0.2, max_seconds=1.0)  # tests reconnect quickly; the default starts at 1 s


async def subscriber(url: str, auth: dict[str, str], **options: Any) -> Subscriber:
    if auth["mode"] == "cookie":
        sub = Subscriber(url, backoff=FAST, **options)
        await sub.sign_in(auth["token"])
        return sub
    return Subscriber(url, token=auth["token"], backoff=FAST, **options)


async def collect(report: Report, url: str, auth: dict[str, str], count: int, cursor: str | None = None) -> dict[str, Any]:
    """Listen until ``count`` notifications came; report each connection and item as it happens."""
    titles, readies = [], 0
    async with await subscriber(url, auth, cursor=cursor) as sub:
        async for event in sub.events():
            if isinstance(event, Ready):
                readies += 1
                report(f"ready {readies}")
            elif isinstance(event, Notification):
                titles.append(event.title)
                report(f"item {event.title}")
                if len(titles) == count:
                    return {"titles": titles, "readies": readies, "cursor": sub.cursor}
    raise AssertionError("the iteration ended")


async def rewind(report: Report, url: str, auth: dict[str, str]) -> dict[str, Any]:
    """Two items, then resume from before them: Herald replays both, the client yields neither again."""
    titles, start = [], None
    async with await subscriber(url, auth) as sub:
        async for event in sub.events():
            if isinstance(event, Ready):
                start = start or event.cursor
                report("ready")
            elif isinstance(event, Notification):
                titles.append(event.title)
                if len(titles) == 2:
                    sub.cursor = start
                    await sub.reconnect()
                    report("rewound")
                if len(titles) == 3:
                    return {"titles": titles}
    raise AssertionError("the iteration ended")


async def groups(report: Report, url: str, auth: dict[str, str]) -> dict[str, Any]:
    """A group that grows in place is yielded again under its id, with the larger count."""
    seen = []
    async with await subscriber(url, auth) as sub:
        async for event in sub.events():
            if isinstance(event, Ready):
                report("ready")
            elif isinstance(event, Notification):
                seen.append([event.id, event.group_count, event.actors])
                if event.group_count == 2:
                    return {"seen": seen}
    raise AssertionError("the iteration ended")


async def read_state(report: Report, url: str, auth: dict[str, str]) -> dict[str, Any]:
    """Pages back and forth, then read one and read all: the stream reports both, with the counts."""
    async with await subscriber(url, auth) as sub:
        newest = await sub.page(limit=2)
        older = await sub.page(before=newest.next_before, limit=2)
        after = await sub.page(since=older.cursor, limit=10)  # what came after the older page: oldest first
        changes, counts = [], []
        async for event in sub.events():
            if isinstance(event, Ready):
                counts.append(await sub.mark_read(newest.items[0].id))
            elif isinstance(event, ReadChange):
                changes.append({"ids": event.ids, "all": event.all, "unread": event.unread_count})
                if event.all:
                    break
                counts.append(await sub.mark_all_read())
        final = await sub.page()
    return {"newest": [i.title for i in newest.items], "older": [i.title for i in older.items],
            "after": [i.title for i in after.items], "read_id": newest.items[0].id, "changes": changes,
            "counts": counts, "unread_after": final.unread_count, "all_read": all(i.read for i in final.items)}


async def reset(report: Report, url: str, auth: dict[str, str]) -> dict[str, Any]:
    """A cursor this inbox never reached: ``reset``, then the inbox reloaded and its items yielded once."""
    kinds: list[str] = []
    titles: list[str] = []
    async with await subscriber(url, auth, cursor="999999999") as sub:
        async for event in sub.events():
            kinds.append(type(event).__name__)
            if isinstance(event, Reset):
                titles += [item.title for item in event.page.items]
            if isinstance(event, Notification) and kinds.count("Notification") == len(titles):
                return {"kinds": kinds, "page": titles, "cursor": sub.cursor}
    raise AssertionError("the iteration ended")


async def refused(report: Report, url: str, auth: dict[str, str]) -> dict[str, Any]:
    """No valid credentials: the iteration ends with ``Unauthorized`` at once instead of retrying for ever."""
    sub = Subscriber(url, token="not-a-token", backoff=FAST) if auth["mode"] == "token" else Subscriber(url, backoff=FAST)
    try:
        async with sub:
            if auth["mode"] == "cookie":
                await sub.sign_out()  # an earlier scenario's session cookie would still be there
            async for _ in sub.events():
                pass
    except HeraldError as error:
        return {"error": type(error).__name__, "code": error.error, "status": error.status}
    raise AssertionError("the iteration ended without an error")


async def replaced(report: Report, url: str, auth: dict[str, str], limit: int) -> dict[str, Any]:
    """More streams than ``HERALD_CONNECTIONS_PER_USER``: the oldest is closed for good (``StreamClosed``)."""
    subs = [await subscriber(url, auth) for _ in range(limit + 1)]
    ready = [asyncio.Event() for _ in subs]

    async def listen(index: int) -> str:
        try:
            async for event in subs[index].events():
                if isinstance(event, Ready):
                    ready[index].set()
        except HeraldError as error:
            return f"{type(error).__name__} {error.error}"
        return "ended"

    first = asyncio.ensure_future(listen(0))
    await ready[0].wait()
    others = [asyncio.ensure_future(listen(i)) for i in range(1, len(subs))]
    outcome = await asyncio.wait_for(first, 20)
    for task in others:
        task.cancel()
    for sub in subs:
        await sub.aclose()
    return {"oldest": outcome}


SCENARIOS = {f.__name__: f for f in (collect, rewind, groups, read_state, reset, refused, replaced)}


async def run(name: str, kwargs_json: str, report: Report) -> str:
    """The runtimes' entry point: JSON in, JSON out, so no runtime needs to convert objects."""
    return json.dumps(await SCENARIOS[name](report, **json.loads(kwargs_json)))
