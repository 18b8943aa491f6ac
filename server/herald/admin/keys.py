"""API keys in the admin: create (the key is shown once), list with last use, revoke.

Keys from ``HERALD_API_KEYS`` are listed too, by fingerprint only, and cannot
be revoked here: they live in the environment, so changing them is a deploy.
"""
from __future__ import annotations

from litestar import Controller, Request, Response, get, post

from herald.admin.audit import record
from herald.admin.pages import redirect, render
from herald.api.auth import services
from herald.api_keys import fingerprint
from herald.errors import not_found


class KeysController(Controller):
    path = "/keys"

    @get("/")
    async def page(self, request: Request) -> Response[str]:
        return await self._page(request)

    @post("/")
    async def create(self, request: Request, admin: str) -> Response[str]:
        name = str((await request.form()).get("name", "")).strip()
        if not 1 <= len(name) <= 100:
            return await self._page(request, status=422, name=name, error="Give the key a name of 1-100 characters, "
                                    "such as the service that will use it.")
        s = services(request)
        key, stored = await s.keys.create(name, admin)
        await record(s.db, admin, "key.create", name, {"keyId": stored.id, "prefix": stored.prefix})
        # Answered here, not after a redirect: the key must not sit in a URL or in history.
        return await self._page(request, status=201, created=key, created_name=name)

    @post("/{key_id:str}/revoke")
    async def revoke(self, request: Request, key_id: str, admin: str) -> Response[str]:
        s = services(request)
        revoked = await s.keys.revoke(key_id, admin)
        if revoked is None:
            raise not_found("No such key, or it is already revoked.")
        await record(s.db, admin, "key.revoke", revoked.name, {"keyId": key_id, "prefix": revoked.prefix})
        return redirect("/admin/keys")

    async def _page(self, request: Request, status: int = 200, name: str = "", error: str | None = None,
                    created: str | None = None, created_name: str = "") -> Response[str]:
        s = services(request)
        environment = [fingerprint(key) for key in s.settings.api_keys]
        return render(request, "keys.html", status=status, title="API keys", keys=await s.keys.list(),
                      environment=environment, name=name, error=error, created=created, created_name=created_name)
