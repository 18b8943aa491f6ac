"""Development-only conveniences for the demo page: sign in as anyone, notify yourself.

Never registered when ``HERALD_ENV=production`` (the routes then do not exist).
"""
from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, post
from litestar.di import Provide

from herald.api.auth import require_subscriber, services
from herald.api.guards import json_body
from herald.api.session import SessionResponse, session_cookie
from herald.wire import Name, Priority, PublishRequest, PublishResponse, Target, check_publish


class DemoLogin(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    user_id: Name


class DemoNotify(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    body: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    priority: Priority = "medium"
    type: Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:\-]+$")] = "demo"
    group_key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    actor: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None
    url: Annotated[str, msgspec.Meta(max_length=2048)] | None = None
    to: Name | None = None


class DemoController(Controller):
    path = "/api/demo"
    tags = ["demo (development only)"]

    @post("/login", status_code=200, guards=[json_body])
    async def login(self, request: Request, data: DemoLogin) -> Response[SessionResponse]:
        """Sign in as any user id (development mode only)."""
        s = services(request)
        async with s.db.write() as conn:
            await s.audience.register(conn, [data.user_id])
        cookie, answer = session_cookie(request, data.user_id)
        return Response(answer, cookies=[cookie])

    @post("/notify", status_code=202, guards=[json_body], dependencies={"user_id": Provide(require_subscriber)})
    async def notify(self, request: Request, data: DemoNotify, user_id: str) -> PublishResponse:
        """Send a notification to yourself (or to ``to``) as the demo producer."""
        publish = PublishRequest(
            to=Target(users=[data.to or user_id]), type=data.type, title=data.title, body=data.body,
            priority=data.priority, group_key=data.group_key, url=data.url, actor=data.actor,
        )
        check_publish(publish)
        return await services(request).publisher.publish(publish, "demo")
