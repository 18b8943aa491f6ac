"""The device registry (issue 16): phone apps register their FCM or APNs token for native pushes.

``POST /api/devices`` ``{"platform": "fcm" | "apns", "token": "...", "app": "<package or bundle id>"}``,
``GET /api/devices`` (the signed-in user's own), ``DELETE /api/devices`` ``{"token": "..."}``.
The rules a token must meet are in ``herald.push.devices``.
"""
from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.exceptions import NotFoundException
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from herald.api.auth import services, subscriber_dependency
from herald.api.guards import json_body
from herald.errors import not_found
from herald.push.devices import DeviceRecord

# Generous bounds for the decoder; the exact rules (and their messages) are check_device's.
Token = Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
App = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class DeviceBody(msgspec.Struct):
    platform: str
    token: Token
    app: App


class TokenBody(msgspec.Struct):
    token: Token


class DeviceView(msgspec.Struct, rename="camel"):
    """A registered device, as its own user sees it; ``lastError`` is the push service's latest refusal."""

    platform: str
    token: str
    app: str
    created_at: int
    last_success_at: int | None
    last_error: str | None


class DeviceList(msgspec.Struct):
    devices: list[DeviceView]


def _view(record: DeviceRecord) -> DeviceView:
    return DeviceView(record.platform, record.token, record.app, record.created_at, record.last_success_at,
                      record.last_error)


class DevicesController(Controller):
    path = "/api/devices"
    tags = ["push"]

    @post("/", status_code=HTTP_201_CREATED, guards=[json_body], dependencies=subscriber_dependency)
    async def register(self, request: Request, data: DeviceBody, user_id: str) -> DeviceView:
        """Register this app install for native pushes; registering it again refreshes it. 400 for a bad token."""
        record = await services(request).push.register_device(user_id, data.platform, data.token, data.app)
        return _view(record)

    @get("/", dependencies=subscriber_dependency)
    async def list_devices(self, request: Request, user_id: str) -> DeviceList:
        """The signed-in user's devices, newest first."""
        return DeviceList([_view(record) for record in await services(request).push.devices.of_user(user_id)])

    @delete("/", status_code=HTTP_204_NO_CONTENT, guards=[json_body], dependencies=subscriber_dependency,
            raises=[NotFoundException])
    async def unregister(self, request: Request, data: TokenBody, user_id: str) -> None:
        """Forget this device (on sign-out). 404 if it is not the signed-in user's."""
        if not await services(request).push.devices.unregister(user_id, data.token):
            raise not_found("No such device for this user.")
