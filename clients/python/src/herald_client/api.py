"""Every Herald endpoint the client speaks, as a ``Call`` builder: the request, and how to read its answer.

``Herald``, ``AsyncHerald`` and ``Subscriber`` turn each builder into a method
(``producer.py``, ``subscriber.py``), so an endpoint that lands on the server
(devices, preferences, retract/replace) is one function here plus one line on
the client that offers it. Only endpoints the server has are here.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Iterable
from urllib.parse import quote

from herald_client.http import Call, Request, Response, no_content
from herald_client.models import Group, InboxPage, Priority, PublishResult, Session, Target, Token, parse_time


def publish(
    to: Target, *, type: str, title: str, body: str = "", priority: Priority = "medium",
    group_key: str | None = None, url: str | None = None, data: dict[str, Any] | None = None,
    actor: str | None = None, idempotency_key: str | None = None, replace_key: str | None = None,
    silent: bool = False, expires_at: datetime | str | None = None, ttl_seconds: int | None = None,
    send_at: datetime | str | None = None,
) -> Call[PublishResult]:
    """``POST /api/publish``: store a notification in each recipient's inbox and deliver it live.

    A ``Target.channel`` publish is a live event (``"persist": false``): stored nowhere, and
    without ``group_key`` or an idempotency key, which need the inbox. Any other publish goes
    with an idempotency key, made here when none is given, so that a retry after a lost
    answer delivers nothing twice: Herald answers the same key with the first answer for 24 h.

    ``replace_key`` updates each recipient's item with that key in place; ``silent`` updates
    without a toast or push; ``expires_at`` (an aware datetime or RFC 3339 text) or
    ``ttl_seconds`` makes the item leave every inbox then (docs/lifecycle.md in Herald).
    ``send_at`` (an aware datetime or RFC 3339 text with an offset, at most 30 days ahead)
    schedules it instead: ``result.send_at`` says when, and ``cancel_scheduled(result.id)``
    or ``cancel_scheduled_key`` cancels it until then (docs/scheduling.md in Herald).
    """
    wire: dict[str, Any] = {"to": dict(to.wire), "type": type, "title": title, "body": body, "priority": priority}
    optional = {"groupKey": group_key, "url": url, "data": data, "actor": actor, "replaceKey": replace_key,
                "silent": silent or None, "expiresAt": _rfc3339(expires_at), "ttlSeconds": ttl_seconds,
                "sendAt": _rfc3339(send_at)}
    wire.update({key: value for key, value in optional.items() if value is not None})
    if to.is_live:
        wire["persist"] = False
        key = idempotency_key  # Herald refuses one on a live event: sent only if the caller insists
    else:
        key = idempotency_key or uuid.uuid4().hex
    if key is not None:
        wire["idempotencyKey"] = key

    def parse(response: Response) -> PublishResult:
        answer = response.json()
        return PublishResult(answer["id"], answer.get("recipients"), key,
                             parse_time(answer["sendAt"]) if answer.get("sendAt") else None)

    return Call(Request("POST", "/api/publish", json=wire), parse)


def retract(notification_id: str) -> Call[int]:
    """``DELETE /api/notifications/{id}``: the items removed from every inbox; ``NotFound`` if unknown or done."""
    return Call(Request("DELETE", f"/api/notifications/{_segment(notification_id)}"), _removed)


def retract_key(replace_key: str, to: Target) -> Call[int]:
    """``POST /api/retract``: each targeted user's item with this replace key removed; ``NotFound`` if none had one."""
    return Call(Request("POST", "/api/retract", json={"replaceKey": replace_key, "to": dict(to.wire)}), _removed)


def cancel_scheduled(scheduled_id: str) -> Call[None]:
    """``DELETE /api/scheduled/{id}``: it is never sent; ``NotFound`` once sent, cancelled or unknown."""
    return Call(Request("DELETE", f"/api/scheduled/{_segment(scheduled_id)}"), no_content)


def cancel_scheduled_key(replace_key: str, to: Target | None = None) -> Call[list[str]]:
    """``POST /api/scheduled/cancel``: the ids of the pending publishes with this replace key (only those for
    exactly ``to``, when given) now cancelled; ``NotFound`` if none was pending."""
    wire: dict[str, Any] = {"replaceKey": replace_key}
    if to is not None:
        wire["to"] = dict(to.wire)
    return Call(Request("POST", "/api/scheduled/cancel", json=wire), lambda r: list(r.json()["cancelled"]))


def mint_token(user_id: str, ttl_seconds: int | None = None) -> Call[Token]:
    """``POST /api/tokens``: a subscriber token for one of the product's users (server default lifetime if None)."""
    wire: dict[str, Any] = {"userId": user_id}
    if ttl_seconds is not None:
        wire["ttlSeconds"] = ttl_seconds
    return Call(Request("POST", "/api/tokens", json=wire), lambda r: Token.from_wire(r.json()))


def put_group(name: str, users: Iterable[str]) -> Call[Group]:
    """``PUT /api/groups/{name}``: create or replace a group's members."""
    return Call(Request("PUT", f"/api/groups/{_segment(name)}", json={"users": list(users)}), _group)


def get_group(name: str) -> Call[Group]:
    """``GET /api/groups/{name}``; ``NotFound`` if there is none."""
    return Call(Request("GET", f"/api/groups/{_segment(name)}"), _group)


def delete_group(name: str) -> Call[None]:
    """``DELETE /api/groups/{name}``; ``NotFound`` if there is none."""
    return Call(Request("DELETE", f"/api/groups/{_segment(name)}"), no_content)


def followers(topic: str) -> Call[list[str]]:
    """``GET /api/topics/{topic}/subscribers``: the users following a topic."""
    return Call(Request("GET", f"/api/topics/{_segment(topic)}/subscribers"), lambda r: list(r.json()["users"]))


def follow(topic: str, user_id: str) -> Call[None]:
    """``PUT /api/topics/{topic}/subscribers/{userId}``: the user gets the topic's publishes."""
    return Call(Request("PUT", f"/api/topics/{_segment(topic)}/subscribers/{_segment(user_id)}"), no_content)


def unfollow(topic: str, user_id: str) -> Call[None]:
    """``DELETE /api/topics/{topic}/subscribers/{userId}``; ``NotFound`` if the user did not follow it."""
    return Call(Request("DELETE", f"/api/topics/{_segment(topic)}/subscribers/{_segment(user_id)}"), no_content)


# Subscriber endpoints: the caller's own inbox, by token or session cookie.

def list_page(*, since: str | None = None, before: str | None = None, limit: int = 50) -> Call[InboxPage]:
    """``GET /api/notifications``: the newest page; items after ``since`` (oldest first); or before ``before``."""
    params = {"limit": str(limit)}
    if since is not None:
        params["since"] = since
    if before is not None:
        params["before"] = before
    return Call(Request("GET", "/api/notifications", params), lambda r: InboxPage.from_wire(r.json()))


def mark_read(item_id: str) -> Call[int]:
    """``POST /api/notifications/{id}/read``: the unread count after it; every other tab and device is told."""
    return Call(Request("POST", f"/api/notifications/{_segment(item_id)}/read"), _unread)


def mark_all_read() -> Call[int]:
    """``POST /api/notifications/read-all``: 0, and every other tab and device is told."""
    return Call(Request("POST", "/api/notifications/read-all"), _unread)


def ack(item_ids: Iterable[str]) -> Call[None]:
    """``POST /api/notifications/ack``: delivered receipts (Web Push then skips what a client confirmed)."""
    return Call(Request("POST", "/api/notifications/ack", json={"ids": list(item_ids)}), no_content)


def start_session(token: str) -> Call[Session]:
    """``POST /api/session``: trade a subscriber token for the HttpOnly session cookie (browsers)."""
    return Call(Request("POST", "/api/session", headers={"Authorization": f"Bearer {token}"}),
                lambda r: Session.from_wire(r.json()))


def end_session() -> Call[None]:
    """``DELETE /api/session``: the cookie is cleared."""
    return Call(Request("DELETE", "/api/session"), no_content)


def _rfc3339(value: datetime | str | None) -> str | None:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a naive datetime has no offset: give it a tzinfo (Herald refuses times without one)")
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return value


def _segment(value: str) -> str:
    return quote(value, safe="")


def _group(response: Response) -> Group:
    raw = response.json()
    return Group(raw["name"], list(raw["users"]))


def _removed(response: Response) -> int:
    return int(response.json()["removed"])


def _unread(response: Response) -> int:
    return int(response.json()["unreadCount"])
