"""Producer endpoints: publish, mint subscriber tokens, keep groups and topic followers."""
from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from herald.api.auth import producer_dependency, services
from herald.api.guards import json_body
from herald.errors import invalid_request, not_found
from herald.schedule import check_send_at
from herald.wire import (
    MAX_USERS,
    NAME_PATTERN,
    Name,
    PublishRequest,
    PublishResponse,
    RetractRequest,
    RetractResponse,
    check_publish,
    check_retract,
)

GROUP_BODY_BYTES = 2 * 1024 * 1024
NameParam = Annotated[str, Parameter(pattern=NAME_PATTERN, max_length=128)]


class TokenRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    user_id: Name
    ttl_seconds: Annotated[int, msgspec.Meta(ge=60)] | None = None


class TokenResponse(msgspec.Struct, rename="camel"):
    token: str
    expires_at: str


class GroupBody(msgspec.Struct, forbid_unknown_fields=True):
    users: Annotated[list[Name], msgspec.Meta(max_length=MAX_USERS)]


class GroupResponse(msgspec.Struct):
    name: str
    users: list[str]


class FollowersResponse(msgspec.Struct):
    topic: str
    users: list[str]


class ProducerController(Controller):
    path = "/api"
    dependencies = producer_dependency
    tags = ["producer"]

    @post("/publish", status_code=HTTP_202_ACCEPTED, guards=[json_body], raises=[NotFoundException])
    async def publish(self, request: Request, data: PublishRequest, producer: str) -> PublishResponse:
        """Store a notification in each recipient's inbox, then deliver it live; with ``sendAt``, at that time."""
        check_publish(data, production=services(request).settings.is_production)
        check_send_at(data)
        return await services(request).publisher.publish(data, producer)

    @delete("/notifications/{notification_id:str}", status_code=200, raises=[NotFoundException])
    async def retract(self, request: Request, notification_id: Annotated[str, Parameter(max_length=64)],
                      producer: str) -> RetractResponse:
        """Retract a notification: its items leave every inbox, every open list and every shown notification."""
        if "\x00" in notification_id:
            raise not_found("No such notification, or it was already retracted.")
        await services(request).publisher.check_rate(producer)  # each retract writes to every recipient's inbox
        return RetractResponse(await services(request).retractions.by_notification(notification_id))

    @post("/retract", status_code=200, guards=[json_body], raises=[NotFoundException])
    async def retract_by_key(self, request: Request, data: RetractRequest, producer: str) -> RetractResponse:
        """Retract each targeted user's item with this replace key, everywhere it appeared."""
        check_retract(data)
        await services(request).publisher.check_rate(producer)
        return RetractResponse(await services(request).retractions.by_replace_key(data.replace_key, data.to))

    @post("/tokens", status_code=200, guards=[json_body])
    async def mint_token(self, request: Request, data: TokenRequest, producer: str) -> TokenResponse:
        """Mint a subscriber token for one of the product's users."""
        s = services(request)
        ttl = data.ttl_seconds or s.settings.token_ttl_seconds
        if ttl > s.settings.max_token_ttl_seconds:
            raise invalid_request(f'"ttlSeconds" must be at most {s.settings.max_token_ttl_seconds}.')
        minted = s.signer.mint(data.user_id, ttl)
        async with s.db.write() as conn:
            await s.audience.register(conn, [data.user_id])
        return TokenResponse(minted.token, minted.expires_at_iso)

    # 10,000 members of up to 128 characters do not fit the 64 KiB default.
    @put("/groups/{name:str}", guards=[json_body], request_max_body_size=GROUP_BODY_BYTES)
    async def put_group(self, request: Request, name: NameParam, data: GroupBody, producer: str) -> GroupResponse:
        """Create or replace a group's members."""
        await services(request).audience.put_group(name, data.users)
        return GroupResponse(name, list(dict.fromkeys(data.users)))

    @get("/groups/{name:str}", raises=[NotFoundException])
    async def get_group(self, request: Request, name: NameParam, producer: str) -> GroupResponse:
        members = await services(request).audience.get_group(name)
        if members is None:
            raise not_found(f"No group named {name!r}.")
        return GroupResponse(name, members)

    @delete("/groups/{name:str}", status_code=HTTP_204_NO_CONTENT, raises=[NotFoundException])
    async def delete_group(self, request: Request, name: NameParam, producer: str) -> None:
        if not await services(request).audience.delete_group(name):
            raise not_found(f"No group named {name!r}.")

    @get("/topics/{topic:str}/subscribers")
    async def followers(self, request: Request, topic: NameParam, producer: str) -> FollowersResponse:
        return FollowersResponse(topic, await services(request).audience.followers(topic))

    @put("/topics/{topic:str}/subscribers/{user:str}", status_code=HTTP_204_NO_CONTENT)
    async def follow(self, request: Request, topic: NameParam, user: NameParam, producer: str) -> None:
        await services(request).audience.follow(topic, user)

    @delete("/topics/{topic:str}/subscribers/{user:str}", status_code=HTTP_204_NO_CONTENT, raises=[NotFoundException])
    async def unfollow(self, request: Request, topic: NameParam, user: NameParam, producer: str) -> None:
        if not await services(request).audience.unfollow(topic, user):
            raise not_found(f"{user!r} does not follow {topic!r}.")
