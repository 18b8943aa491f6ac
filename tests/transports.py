"""One test-side client per transport (SSE, WebSocket, long polling), with one interface.

Each yields ``Message``s: ``ready`` (cursor, unreadCount), ``notification``
(cursor it carries, item), ``read`` (cursor, data), ``reset``. The contract tests run
the same steps through all three.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import httpx
import websockets

from tests.herald_server import HeraldServer
from tests.sse_client import open_stream

TRANSPORTS = ["sse", "websocket", "poll"]


@dataclass
class Message:
    kind: str
    cursor: str | None = None
    data: Any = None


@dataclass
class Subscription:
    base_url: str
    token: str
    queue: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)
    socket: Any = None

    async def ack(self, ids: list[str]) -> None:
        """Delivered receipts the transport's own way: an ``ack`` message on a WebSocket, else the HTTP endpoint."""
        if self.socket is not None:
            await self.socket.send(json.dumps({"type": "ack", "ids": ids}))
            return
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10) as client:
            response = await client.post("/api/notifications/ack", json={"ids": ids},
                                         headers={"Authorization": f"Bearer {self.token}"})
        assert response.status_code == 204, response.text

    async def until(self, kind: str, timeout: float = 10.0) -> Message:
        async def wait() -> Message:
            while True:
                message = await self.queue.get()
                if message.kind == kind:
                    return message

        return await asyncio.wait_for(wait(), timeout)


@contextlib.asynccontextmanager
async def subscribe(transport: str, base_url: str, token: str, cursor: str | None = None) -> AsyncIterator[Subscription]:
    sub = Subscription(base_url, token)
    pump = {"sse": _sse, "websocket": _websocket, "poll": _poll}[transport]
    task = asyncio.ensure_future(pump(sub, base_url, token, cursor))
    try:
        yield sub
    finally:
        # httpx's streams sit on anyio, which can swallow one cancellation: bound the wait, cancel again.
        for _ in range(10):
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=0.5)
            if done:
                break
        with contextlib.suppress(asyncio.CancelledError, Exception):
            if task.done():
                task.result()


async def _sse(sub: Subscription, base_url: str, token: str, cursor: str | None) -> None:
    async with open_stream(base_url, token, last_event_id=cursor) as stream:
        while True:
            event = await stream.next(timeout=3600)
            data = event.json() if event.data else None
            await sub.queue.put(Message(event.event, event.id, data))


async def _websocket(sub: Subscription, base_url: str, token: str, cursor: str | None) -> None:
    url = base_url.replace("http://", "ws://") + "/api/notifications/ws"
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        await ws.send(json.dumps({"type": "resume", "cursor": cursor}))
        sub.socket = ws
        async for raw in ws:
            message = json.loads(raw)
            kind = message.pop("type")
            if kind == "notification":
                await sub.queue.put(Message(kind, message.get("cursor"), message["notification"]))
            else:
                await sub.queue.put(Message(kind, message.get("cursor"), message))


async def _poll(sub: Subscription, base_url: str, token: str, cursor: str | None) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        params = {"timeout": "0"} if cursor is None else {"cursor": cursor, "timeout": "0"}
        first = (await client.get("/api/notifications/poll", params=params)).json()
        if first["reset"]:
            await sub.queue.put(Message("ready", first["cursor"], {"unreadCount": first["unreadCount"]}))
            await sub.queue.put(Message("reset", first["cursor"]))
            cursor = first["cursor"]
        elif cursor is None:
            cursor = first["cursor"]
            await sub.queue.put(Message("ready", cursor, {"unreadCount": first["unreadCount"]}))
        else:
            await sub.queue.put(Message("ready", cursor, {"unreadCount": first["unreadCount"]}))
        while True:
            answer = (await client.get("/api/notifications/poll", params={"cursor": cursor, "timeout": "5"})).json()
            items = answer["items"]
            # Only the last item of an answer may carry the answer's cursor: the others were not yet seen.
            for index, item in enumerate(items):
                carried = answer["cursor"] if index == len(items) - 1 else cursor
                await sub.queue.put(Message("notification", carried, item))
            for change in answer["changes"]:
                await sub.queue.put(Message(change["type"], change["cursor"], change))
            cursor = answer["cursor"]


def wait_for_receipt(server: HeraldServer, user_id: str, item_id: str, timeout: float = 5.0) -> dict[str, bool]:
    """Every item of the user: whether it has a receipt, once ``item_id`` has one (they are written in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = dict(server.sql("SELECT id, delivered_at FROM inbox_items WHERE user_id = :u", u=user_id))
        if rows.get(item_id) is not None:
            return {item: at is not None for item, at in rows.items()}
        assert time.monotonic() < deadline, f"no receipt for {item_id}"
        time.sleep(0.05)
