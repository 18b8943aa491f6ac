"""The SSE stream: opening frames, live delivery, exact resume, isolation, framing."""
from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from tests.herald_server import HeraldServer
from tests.sse_client import open_stream


async def test_stream_opens_with_retry_and_ready_carrying_cursor_and_unread(server: HeraldServer, user_id: str) -> None:
    server.publish(to={"users": [user_id]}, type="t", title="one")
    async with open_stream(server.url, server.token(user_id)) as stream:
        assert stream.response.status_code == 200
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        ready = await stream.next()
        assert ready.event == "ready"
        assert ready.retry is not None and ready.retry > 0
        assert ready.id == "1"
        assert ready.json() == {"unreadCount": 1}


async def test_live_notification_arrives_with_wire_fields(server: HeraldServer, user_id: str) -> None:
    async with open_stream(server.url, server.token(user_id)) as stream:
        await stream.until("ready")
        sent = server.publish(to={"users": [user_id]}, type="order.shipped", title="Your order shipped",
                              body="Order #1042", priority="high", groupKey="order:1042", url="/orders/1042",
                              data={"orderId": 1042})
        event = await stream.until("notification")
        item = event.json()
        assert item["id"] == sent["id"]
        assert {k: item[k] for k in ("type", "title", "body", "priority", "read", "groupKey", "url", "data")} == {
            "type": "order.shipped", "title": "Your order shipped", "body": "Order #1042", "priority": "high",
            "read": False, "groupKey": "order:1042", "url": "/orders/1042", "data": {"orderId": 1042}}
        assert isinstance(item["timestamp"], int) and item["timestamp"] > 1_700_000_000_000
        assert event.id == "1"
