"""Browser sessions: exchange a subscriber token once for an HttpOnly cookie."""
from __future__ import annotations

import msgspec
from litestar import Controller, Request, Response, delete, post
from litestar.datastructures import Cookie
from litestar.exceptions import NotAuthorizedException
from litestar.status_codes import HTTP_204_NO_CONTENT

from herald.api.auth import SESSION_COOKIE, bearer, services
from herald.errors import unauthorized
from herald.tokens import TokenError


class SessionResponse(msgspec.Struct, rename="camel"):
    user_id: str
    expires_at: str


def session_cookie(request: Request, user_id: str) -> tuple[Cookie, SessionResponse]:
    """The cookie that signs ``user_id`` in, and the answer describing it."""
    s = services(request)
    minted = s.signer.mint(user_id, s.settings.session_ttl_seconds, kind="session")
    cookie = Cookie(
        key=SESSION_COOKIE, value=minted.token, max_age=s.settings.session_ttl_seconds, path="/",
        httponly=True, samesite="lax", secure=s.settings.is_production,
    )
    return cookie, SessionResponse(user_id, minted.expires_at_iso)


class SessionController(Controller):
    path = "/api/session"
    tags = ["session"]

    @post("/", status_code=200, raises=[NotAuthorizedException])
    async def create(self, request: Request) -> Response[SessionResponse]:
        """Send ``Authorization: Bearer <subscriber token>``; get the session cookie."""
        token = bearer(request)
        if token is None:
            raise unauthorized("Send the subscriber token as 'Authorization: Bearer <token>'.")
        try:
            user_id = services(request).signer.verify(token, "subscriber")
        except TokenError:
            raise unauthorized("The token is invalid or has expired.") from None
        cookie, answer = session_cookie(request, user_id)
        return Response(answer, cookies=[cookie])

    # Cookies on the decorator, so that the handler returns None and OpenAPI documents no body.
    @delete("/", status_code=HTTP_204_NO_CONTENT, response_cookies=[
        Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/", httponly=True, samesite="lax")])
    async def end(self) -> None:
        """Sign out: the cookie is cleared."""
