"""Signing in and out of the admin console."""
from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie

from herald.admin.accounts import SESSION_SECONDS
from herald.admin.audit import record
from herald.admin.pages import ADMIN_COOKIE, PUBLIC, redirect, render
from herald.api.auth import services


def _next_page(value: Any) -> str:
    # Only our own pages: an open redirect after sign-in is a phishing aid.
    if isinstance(value, str) and value.startswith("/admin/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/admin/"


def admin_cookie(request: Request, value: str, max_age: int) -> Cookie:
    return Cookie(key=ADMIN_COOKIE, value=value, path="/admin", httponly=True, samesite="strict",
                  secure=services(request).settings.is_production, max_age=max_age)


class LoginController(Controller):
    path = "/"

    @get("/login", opt={PUBLIC: True})
    async def login_page(self, request: Request, next: str | None = None) -> Response[str]:
        return render(request, "login.html", title="Sign in", username="", error=None, next=_next_page(next))

    @post("/login", opt={PUBLIC: True}, request_max_body_size=8 * 1024)
    async def login(self, request: Request) -> Response[str]:
        form = await request.form()
        username = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        next_page = _next_page(form.get("next"))
        admin = services(request).admin
        address = request.client.host if request.client else "unknown"

        wait = admin.throttle.check(username, address)
        if wait is not None:
            return render(request, "login.html", status=429, headers={"Retry-After": str(wait)}, title="Sign in",
                          username=username, next=next_page,
                          error=f"Too many failed sign-ins. Try again in {wait} seconds.")
        if not username or not password or not await admin.accounts.verify(username, password):
            admin.throttle.failed(username, address)
            return render(request, "login.html", status=401, title="Sign in", username=username, next=next_page,
                          error="Wrong username or password.")
        admin.throttle.succeeded(username)
        token, _ = await admin.accounts.start_session(username)
        await record(services(request).db, username, "sign_in", username, {"address": address})
        response = redirect(next_page)
        response.set_cookie(admin_cookie(request, token, SESSION_SECONDS))
        return response

    @post("/logout")
    async def logout(self, request: Request, admin: str) -> Response[str]:
        token = request.cookies.get(ADMIN_COOKIE)
        if token:
            await services(request).admin.accounts.end_session(token)
        response = redirect("/admin/login")
        response.set_cookie(admin_cookie(request, "", 0))
        return response

    @get("/", name="admin_home")
    async def home(self) -> Response[str]:
        return redirect("/admin/dashboard")
