"""A user's push targets: the phones registered for FCM or APNs, and the browsers subscribed to Web Push.

Support's first question when "I get no notifications on my phone": is the
phone registered, and what did the push service last say? Each device shows
its platform, app, when it registered, the last push its service accepted
and the last refusal (``devices.last_*``, written by the push worker). Tokens
are shown as hints only: an admin page is no place to copy them from.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from litestar import Controller, Request, Response, get
from sqlalchemy import select

from herald.admin.pages import render
from herald.api.auth import services
from herald.models import push_subscriptions
from herald.push.devices import token_hint

MAX_USER_ID = 128


@dataclass
class BrowserRow:
    host: str
    created_at: int


class DevicesController(Controller):
    path = "/devices"

    @get("/")
    async def page(self, request: Request, user: str = "") -> Response[str]:
        user = user.strip()[:MAX_USER_ID]
        if not user:
            return render(request, "devices.html", title="Devices", user="", devices=[], browsers=[], hint=token_hint)
        s = services(request)
        async with s.db.read() as conn:
            rows = await conn.execute(select(push_subscriptions.c.endpoint, push_subscriptions.c.created_at)
                                      .where(push_subscriptions.c.user_id == user)
                                      .order_by(push_subscriptions.c.created_at.desc()))
            # An endpoint is a capability URL: its host says which browser vendor, the path is the secret.
            browsers = [BrowserRow(urlsplit(endpoint).hostname or "?", created_at) for endpoint, created_at in rows]
        return render(request, "devices.html", title=f"Devices of {user}", user=user,
                      devices=await s.push.devices.of_user(user), browsers=browsers, hint=token_hint)
