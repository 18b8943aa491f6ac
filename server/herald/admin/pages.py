"""How admin pages are made: one Jinja environment with autoescaping on everywhere, ``render`` and ``redirect``.

Every page module (one per page of the console) imports these; the router
(``router.py``) imports the page modules, never the other way round.
"""
from __future__ import annotations

import functools
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import msgspec
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import MediaType, Request, Response
from litestar.utils.scope.state import ScopeState

TEMPLATES = Path(__file__).parent / "templates"
ADMIN_COOKIE = "herald_admin"
CSRF_COOKIE = "herald_admin_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "_csrf_token"  # the form field Litestar's middleware reads
PUBLIC = "admin_public"  # route ``opt`` key: reachable without a session (sign-in only)


@functools.cache
def templates() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True,
                      default_for_string=True), undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = format_time
    env.filters["ago"] = format_ago
    env.filters["pretty_json"] = lambda value: msgspec.json.format(msgspec.json.encode(value), indent=2).decode()
    env.globals["CSRF_FIELD"] = CSRF_FIELD
    return env


def csrf_token(request: Request[Any, Any, Any]) -> str:
    token = ScopeState.from_scope(request.scope).csrf_token  # an "empty" marker until the middleware sets it
    return token if isinstance(token, str) else ""


def render(request: Request[Any, Any, Any], template: str, *, status: int = 200,
           headers: Mapping[str, str] | None = None, **context: Any) -> Response[str]:
    page = templates().get_template(template).render(
        csrf_token=csrf_token(request), admin=getattr(request.state, "admin", None), path=request.url.path,
        **context)
    return Response(page, status_code=status, media_type=MediaType.HTML, headers=dict(headers or {}))


def redirect(location: str) -> Response[str]:
    return Response("", status_code=303, headers={"location": location})


def format_time(ms: int | None) -> str:
    if ms is None:
        return "never"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_ago(ms: int | None, now_ms: int | None = None) -> str:
    if ms is None:
        return "never"
    now = now_ms if now_ms is not None else int(datetime.now(timezone.utc).timestamp() * 1000)
    seconds = max(0, (now - ms) // 1000)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"
