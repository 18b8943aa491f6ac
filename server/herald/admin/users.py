"""One user, for support staff answering "why didn't I get it?".

Everything Herald knows about delivering to one user on one page:

- the inbox, newest first, with each item's state: sent (in the inbox since), delivered (a
  client acknowledged it, receipts.py), read, and pushed (pushes still queued, held or
  retrying, with their attempts; pushes a phone's service accepted, ``device_pushes``).
  Web Push outcomes are kept per notification, not per user: the item's notification page
  shows them by channel;
- live connections on this node (transport, since, channels), and the nodes where the user
  is online (the bus's presence: every node with Redis, by its bus node id). Connections held
  by other nodes are not listed one by one: each node knows only its own;
- push targets: browsers subscribed to Web Push, phones with the last answer of their service.

Every value, titles above all, is rendered by the autoescaping templates (pages.py).
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from litestar import Controller, Request, Response, get
from sqlalchemy import select

from herald.admin.devices import MAX_USER_ID, BrowserRow
from herald.admin.pages import render
from herald.api.auth import services
from herald.models import device_pushes, devices, inbox_items, notifications, push_jobs, push_subscriptions, users
from herald.push.devices import token_hint
from herald.services import Services
from herald.wire import now_ms

ITEMS = 50


@dataclass
class ItemRow:
    id: str
    notification_id: str
    title: str
    type: str
    priority: str
    group_count: int
    created_at: int
    updated_at: int
    delivered_at: int | None
    read: bool
    queued: list[str] = field(default_factory=list)  # pushes waiting, one line each
    pushed: list[tuple[str, int]] = field(default_factory=list)  # (platform, when) a phone's service accepted


@dataclass
class Live:
    transport: str
    since_ms: int
    channels: tuple[str, ...]


async def items_of(s: Services, user_id: str, limit: int = ITEMS) -> list[ItemRow]:
    i, n = inbox_items.c, notifications.c
    async with s.db.read() as conn:
        rows = await conn.execute(
            select(i.id, i.notification_id, n.title, n.type, n.priority, i.group_count, i.created_at, i.updated_at,
                   i.delivered_at, i.read)
            .outerjoin(notifications, n.id == i.notification_id)
            .where(i.user_id == user_id).order_by(i.seq.desc()).limit(limit))
        items = [ItemRow(r.id, r.notification_id, r.title or "(notification pruned)", r.type or "", r.priority or "",
                         r.group_count, r.created_at, r.updated_at, r.delivered_at, r.read) for r in rows]
        by_id = {item.id: item for item in items}
        if not items:
            return items
        now = now_ms()
        for job in await conn.execute(
                select(push_jobs.c.item_id, push_jobs.c.provider, push_jobs.c.attempts, push_jobs.c.next_attempt_at)
                .where(push_jobs.c.user_id == user_id, push_jobs.c.item_id.in_(list(by_id)))):
            state = "held for a receipt" if job.attempts == 0 and job.next_attempt_at > now else (
                f"retrying after {job.attempts} attempts" if job.attempts else "due now")
            by_id[job.item_id].queued.append(f"{job.provider}: {state}")
        for push in await conn.execute(
                select(device_pushes.c.item_id, device_pushes.c.at, devices.c.platform)
                .join(devices, devices.c.id == device_pushes.c.device_id)
                .where(device_pushes.c.user_id == user_id, device_pushes.c.item_id.in_(list(by_id)))):
            by_id[push.item_id].pushed.append((push.platform, push.at))
    return items


def node_name(s: Services) -> str:
    node = f"{socket.gethostname()} (pid {os.getpid()})"
    bus_node = getattr(s.fanout, "node_id", None)
    return f"{node}, bus node {bus_node}" if bus_node else node


class UsersController(Controller):
    path = "/users"

    @get("/")
    async def page(self, request: Request, user: str = "") -> Response[str]:
        user = user.strip()[:MAX_USER_ID]
        if not user:
            return render(request, "users.html", title="Users", user="")
        s = services(request)
        async with s.db.read() as conn:
            known = (await conn.execute(select(users).where(users.c.user_id == user))).first()
            browsers = [BrowserRow(_host(endpoint), created_at) for endpoint, created_at in await conn.execute(
                select(push_subscriptions.c.endpoint, push_subscriptions.c.created_at)
                .where(push_subscriptions.c.user_id == user).order_by(push_subscriptions.c.created_at.desc()))]
        live = [Live(transport, int(since * 1000), channels) for transport, since, channels in s.gateway.connections_of(user)]
        nodes = await s.fanout.nodes_of(user)
        return render(request, "users.html", title=f"User {user}", user=user, known=known,
                      unread=await s.inbox.unread_count(user) if known else 0, items=await items_of(s, user),
                      live=live, nodes=nodes, node=node_name(s), devices=await s.push.devices.of_user(user),
                      browsers=browsers, hint=token_hint)


def _host(endpoint: str) -> str:
    # An endpoint is a capability URL: its host says which browser vendor, the path is the secret.
    return urlsplit(endpoint).hostname or "?"
