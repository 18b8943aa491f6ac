"""Web Push endpoints (design section 6): the VAPID key, and a browser's subscription."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.exceptions import NotFoundException
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from herald.api.auth import services, subscriber_dependency
from herald.api.guards import json_body
from herald.errors import invalid_request, not_found
from herald.push.endpoint import MAX_ENDPOINT_LENGTH
from herald.push.provider import Subscription
from herald.push.service import check_keys

ICON = Path(__file__).resolve().parents[3] / "service_worker" / "icon.png"


class SubscriptionKeys(msgspec.Struct):
    p256dh: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    auth: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class SubscriptionBody(msgspec.Struct, rename="camel"):
    """``PushSubscription.toJSON()``. Unknown fields are ignored: browsers may add some."""

    endpoint: str  # its length and everything else: check_endpoint, with a message that says which rule
    keys: SubscriptionKeys
    expiration_time: int | float | None = None


class EndpointBody(msgspec.Struct):
    endpoint: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ENDPOINT_LENGTH)]


class VapidKey(msgspec.Struct, rename="camel"):
    public_key: str


class SubscriptionCreated(msgspec.Struct):
    endpoint: str


class PushController(Controller):
    path = "/api/push"
    tags = ["push"]

    @get("/vapid-public-key")
    async def vapid_public_key(self, request: Request) -> VapidKey:
        """The application server key to subscribe with (base64url, 65-byte uncompressed P-256 point)."""
        return VapidKey(services(request).push.keys.public_key)

    @post("/subscriptions", status_code=HTTP_201_CREATED, guards=[json_body], dependencies=subscriber_dependency)
    async def subscribe(self, request: Request, data: SubscriptionBody, user_id: str) -> SubscriptionCreated:
        """Store this browser's push subscription for the signed-in user."""
        push = services(request).push
        push.check_endpoint(data.endpoint)
        problem = check_keys(data.keys.p256dh, data.keys.auth)
        if problem:
            raise invalid_request(problem)
        await push.subscribe(user_id, Subscription(data.endpoint, data.keys.p256dh, data.keys.auth))
        return SubscriptionCreated(data.endpoint)

    @delete("/subscriptions", status_code=HTTP_204_NO_CONTENT, guards=[json_body], dependencies=subscriber_dependency,
            raises=[NotFoundException])
    async def unsubscribe(self, request: Request, data: EndpointBody, user_id: str) -> None:
        """Forget this browser's subscription (on logout). 404 if it is not the signed-in user's."""
        if not await services(request).push.unsubscribe(user_id, data.endpoint):
            raise not_found("No such push subscription for this user.")

    @get("/icon.png", include_in_schema=False, media_type="image/png")
    async def icon(self) -> Response[bytes]:
        """The default icon of system notifications (``HERALD_PUSH_ICON_URL`` points here unless changed)."""
        if not ICON.is_file():
            return Response(b"", status_code=404, media_type="image/png")
        return Response(ICON.read_bytes(), media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})
