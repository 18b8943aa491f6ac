"""Herald's Python client: publish from a backend, listen from a script or from Pyodide in the browser.

    from herald_client import Herald, Target
    with Herald("http://127.0.0.1:8000", api_key) as herald:
        herald.publish(Target.users("alice"), type="order.shipped", title="Your order shipped")

    async with Subscriber("http://127.0.0.1:8000", token=token) as inbox:
        async for item in inbox:
            print(item.title)

The guide: docs/python-client.md in Herald's repository.
"""
from herald_client.errors import (
    ConnectionFailed, Forbidden, HeraldError, InvalidCursor, InvalidRequest, MethodNotAllowed, NotFound,
    PayloadTooLarge, RateLimited, ServerError, StreamClosed, Unauthorized, Unavailable, UnsupportedMediaType,
)
from herald_client.http import Call, Request, Response
from herald_client.models import (
    PRIORITIES, Event, Group, InboxPage, LiveEvent, Notification, Priority, PublishResult, Ready, ReadChange,
    Reset, Retracted, Session, Target, Token,
)
from herald_client.producer import AsyncHerald, Herald
from herald_client.retry import Backoff
from herald_client.subscriber import Subscriber

__version__ = "0.1.0"

__all__ = [
    "PRIORITIES", "AsyncHerald", "Backoff", "Call", "ConnectionFailed", "Event", "Forbidden", "Group", "Herald",
    "HeraldError", "InboxPage", "InvalidCursor", "InvalidRequest", "LiveEvent", "MethodNotAllowed", "NotFound",
    "Notification", "PayloadTooLarge", "Priority", "PublishResult", "RateLimited", "ReadChange", "Ready",
    "Request", "Reset", "Response", "Retracted", "ServerError", "Session", "StreamClosed", "Subscriber", "Target",
    "Token", "Unauthorized", "Unavailable", "UnsupportedMediaType",
]
