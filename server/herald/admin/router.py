"""The admin console at ``/admin``: one router, server-rendered pages, htmx for the live parts.

Every route but the sign-in page needs an admin session (a router guard, so a
new page cannot forget it), and every unsafe request needs the CSRF token
(Litestar's double-submit cookie middleware, mounted on this router only:
the JSON API authenticates with Bearer tokens and SameSite cookies and keeps
working without it). Forms carry the token in a hidden field, htmx in a
header set once on ``<body>``.

Pages are Jinja templates rendered by our own environment with autoescaping
on for every template, so a title or body is text wherever it is shown; the
Content-Security-Policy allows scripts from Herald only, a second line should
escaping ever be missed.
"""
from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, Router
from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.di import Provide
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from herald.admin.audience import GroupsController, TopicsController
from herald.admin.audit import AuditController
from herald.admin.dashboard import DashboardController
from herald.admin.dead_letters import DeadLettersController
from herald.admin.devices import DevicesController
from herald.admin.keys import KeysController
from herald.admin.login import LoginController
from herald.admin.notifications import NotificationsController
from herald.admin.pages import ADMIN_COOKIE, CSRF_COOKIE, CSRF_HEADER, PUBLIC, redirect, render
from herald.admin.scheduled import ScheduledController
from herald.admin.send import SendController
from herald.admin.users import UsersController
from herald.admin.webhooks import WebhooksController
from herald.errors import HeraldError
from herald.settings import Settings

SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


class SignInRequired(Exception):
    """No valid admin session for a page that needs one."""


def admin_router(settings: Settings) -> Router:
    csrf = CSRFConfig(
        # A key of its own, derived from the secret: a CSRF token is never a valid signature elsewhere.
        secret=hmac.new(settings.secret.encode(), b"herald admin csrf", "sha256").hexdigest(),
        cookie_name=CSRF_COOKIE, cookie_path="/admin", header_name=CSRF_HEADER, cookie_httponly=True,
        cookie_samesite="strict", cookie_secure=settings.is_production,
    )
    return Router(
        path="/admin",
        route_handlers=[LoginController, DashboardController, SendController, NotificationsController,
                        GroupsController, TopicsController, KeysController, AuditController,
                        DeadLettersController, DevicesController, ScheduledController, WebhooksController,
                        UsersController],
        middleware=[security_headers, DefineMiddleware(CSRFMiddleware, config=csrf)],
        guards=[require_admin],
        dependencies={"admin": Provide(current_admin, sync_to_thread=False)},
        exception_handlers={SignInRequired: _sign_in_first, PermissionDeniedException: _csrf_refused,
                            HeraldError: _herald_error, HTTPException: _http_error},
        include_in_schema=False,
    )


async def require_admin(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    if handler.opt.get(PUBLIC):
        return
    token = connection.cookies.get(ADMIN_COOKIE)
    username = await connection.app.state.services.admin.accounts.session_user(token) if token else None
    if username is None:
        raise SignInRequired
    connection.state.admin = username


def current_admin(request: Request[Any, Any, Any]) -> str:
    return request.state.admin  # type: ignore[no-any-return]


def security_headers(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware


# Errors, as pages (the JSON API's handlers answer everywhere else).

def _sign_in_first(request: Request[Any, Any, Any], _: SignInRequired) -> Response[str]:
    target = "/admin/login"
    if request.method == "GET" and request.url.path not in ("/admin", "/admin/"):
        target += "?next=" + quote(request.url.path)
    if request.headers.get("hx-request"):
        # htmx would swap a redirect's page into a fragment; ask it to load the sign-in page instead.
        return Response("", status_code=401, headers={"hx-redirect": target})
    if request.method == "GET":
        return redirect(target)
    return render(request, "error.html", status=401, title="Sign in first",
                  message="Your admin session has ended. Sign in again; nothing was changed.")


def _csrf_refused(request: Request[Any, Any, Any], exc: PermissionDeniedException) -> Response[str]:
    return render(request, "error.html", status=403, title="Refused",
                  message="This form did not carry a valid security token (CSRF), so nothing was changed. "
                          "Reload the page and try again." if "CSRF" in str(exc.detail) else str(exc.detail))


def _herald_error(request: Request[Any, Any, Any], exc: HeraldError) -> Response[str]:
    return render(request, "error.html", status=exc.status, headers=exc.headers, title="Not possible",
                  message=exc.message)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[str]:
    status = exc.status_code
    message = "No such page." if status == 404 else exc.detail or "The request could not be handled."
    if status >= 500:
        message = "Something went wrong on our side."
    return render(request, "error.html", status=status, title=f"Error {status}", message=message)
