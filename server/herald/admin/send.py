"""Compose and send a notification from the admin, through the same publisher as ``POST /api/publish``.

The form's fields are checked one by one against the very types of
``wire.PublishRequest`` (and then ``wire.check_publish``), so the console
accepts exactly what the API accepts, and every error is shown next to its
field. Nothing is sent while any field is wrong. Sending to a group, a topic
or everyone first shows how many users that reaches and waits for a second
click. A hidden idempotency key, made when the form is first shown, turns a
double submit into one notification. An optional "send at" time (UTC, as the
console shows every time) schedules it instead (schedule.py); it is then
listed on the Scheduled page until it goes out.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict

from herald.admin.audit import record
from herald.admin.pages import redirect, render
from herald.api.auth import services
from herald.errors import HeraldError
from herald.schedule import check_send_at
from herald.wire import MAX_USERS, PublishRequest, Target, check_publish, new_id

FORM_BODY_BYTES = 2 * 1024 * 1024  # up to 10,000 explicit user ids
TARGETS = ("users", "group", "topic", "all")
FIELDS = ("target", "users", "group", "topic", "type", "priority", "title", "body", "url", "group_key", "data",
          "idempotency_key", "send_at")
ID_RULE = "1-128 letters, digits or . _ : @ + -, starting with a letter or digit"
MESSAGES = {
    "users": f"Enter 1 to {MAX_USERS:,} user ids separated by spaces, commas or new lines; an id is {ID_RULE}.",
    "group": f"Enter the group's name: {ID_RULE}.",
    "topic": f"Enter the topic's name: {ID_RULE}.",
    "type": "A type is 1-100 letters, digits, '.', '_', ':' or '-', such as order.shipped.",
    "title": "A title is 1-200 characters.",
    "body": "The body may have at most 4,000 characters.",
    "priority": "Choose urgent, high, medium or low.",
    "group_key": "A group key is 1-200 characters.",
    "url": "A URL is a path on your site (/orders/1042) or an http(s) URL, at most 2,048 characters.",
    "data": 'Data is a JSON object, such as {"orderId": 1042}.',
    "send_at": "A time such as 2026-12-24T09:00 (UTC), up to 30 days ahead; leave it empty to send now.",
}
_FIELD_TYPES = {f.name: f.type for f in msgspec.structs.fields(PublishRequest)}
_TARGET_TYPES = {f.name: f.type for f in msgspec.structs.fields(Target)}


@dataclass
class Compose:
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    request: PublishRequest | None = None

    @property
    def target_field(self) -> str:
        return self.values["target"] if self.values["target"] in ("users", "group", "topic") else "target"


def parse(form: FormMultiDict | dict[str, Any]) -> Compose:
    values = {name: str(form.get(name) or "") for name in FIELDS}
    values["target"] = values["target"] or "users"
    values["priority"] = values["priority"] or "medium"
    values["idempotency_key"] = values["idempotency_key"] or new_id()
    compose = Compose(values)
    errors = compose.errors
    body: dict[str, Any] = {"idempotencyKey": values["idempotency_key"]}

    kind = values["target"]
    if kind not in TARGETS:
        errors["target"] = "Choose who receives it."
    elif kind == "all":
        body["to"] = {"all": True}
    else:
        given: Any = [u for u in re.split(r"[\s,]+", values["users"]) if u] if kind == "users" else values[kind].strip()
        try:
            msgspec.convert(given, _TARGET_TYPES[kind])
            body["to"] = {kind: given}
        except msgspec.ValidationError:
            errors[kind] = MESSAGES[kind]

    for name in ("type", "title", "body", "priority", "group_key", "url"):
        value: str | None = values[name] if name == "body" else values[name].strip()
        if name in ("group_key", "url") and not value:
            value = None
        try:
            body[_encode_name(name)] = msgspec.convert(value, _FIELD_TYPES[name])
        except msgspec.ValidationError:
            errors[name] = MESSAGES[name]

    if values["data"].strip():
        try:
            data = msgspec.json.decode(values["data"])
        except msgspec.DecodeError:
            data = None
        if isinstance(data, dict):
            body["data"] = data
        else:
            errors["data"] = MESSAGES["data"]

    if values["send_at"].strip():
        send_at = _utc(values["send_at"].strip())
        if send_at is None:
            errors["send_at"] = MESSAGES["send_at"]
        else:
            body["sendAt"] = send_at

    if not errors:
        compose.request = msgspec.convert(body, PublishRequest)
        try:
            check_publish(compose.request)
            check_send_at(compose.request)
        except HeraldError as exc:
            _attach(compose, exc)
    return compose


def _utc(value: str) -> datetime | None:
    """A ``datetime-local`` value (no zone: UTC, as the console shows times) or an RFC 3339 time."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _encode_name(name: str) -> str:
    return "groupKey" if name == "group_key" else name


def _attach(compose: Compose, exc: HeraldError) -> None:
    """Put an error from the shared checks (or the publisher) next to the field it is about."""
    compose.request = None
    for marker, name in (('"url"', "url"), ('"data"', "data"), ('"sendAt"', "send_at"), ('"to', compose.target_field),
                         ("group named", "group")):
        if marker in exc.message:
            compose.errors[name] = exc.message
            return
    compose.errors["title"] = exc.message


def describe_target(target: Target | dict[str, Any]) -> str:
    to = msgspec.structs.asdict(target) if isinstance(target, Target) else target
    if to.get("users") is not None:
        users = to["users"]
        shown = ", ".join(users[:5])
        return f"users {shown}" + (f" and {len(users) - 5} more" if len(users) > 5 else "")
    if to.get("group") is not None:
        return f"group {to['group']}"
    if to.get("topic") is not None:
        return f"topic {to['topic']}"
    return "everyone"


class SendController(Controller):
    path = "/send"
    request_max_body_size = FORM_BODY_BYTES

    @get("/")
    async def compose(self, request: Request, users: str = "", group: str = "", topic: str = "") -> Response[str]:
        target = "group" if group else "topic" if topic else "users"
        compose = parse({"target": target, "users": users, "group": group, "topic": topic, "type": "announcement"})
        return await self._form(request, compose, errors={})

    @post("/preview")
    async def preview(self, request: Request) -> Response[str]:
        """The toast and the system notification as a recipient will see them (an htmx fragment)."""
        compose = parse(await request.form())
        settings = services(request).settings
        return render(request, "_preview.html", v=compose.values, icon=settings.push_icon_url,
                      pushed=compose.values["priority"] in settings.push_priorities)

    @post("/")
    async def send(self, request: Request, admin: str) -> Response[str]:
        form = await request.form()
        compose = parse(form)
        action = form.get("action", "review")
        if action == "edit" or compose.request is None:
            return await self._form(request, compose, errors=compose.errors)
        to = compose.request.to
        s = services(request)
        if to.users is None and action != "confirm":
            try:
                count = await s.audience.count(to)
            except HeraldError as exc:
                _attach(compose, exc)
                return await self._form(request, compose, errors=compose.errors)
            return render(request, "confirm.html", title="Confirm", v=compose.values, count=count,
                          target=describe_target(to))
        try:
            sent = await s.publisher.publish(compose.request, f"admin:{admin}")
        except HeraldError as exc:  # the group was deleted since the form was checked, or sending too fast
            _attach(compose, exc)
            page = await self._form(request, compose, errors=compose.errors)
            if exc.code == "rate_limited":  # the form stays filled in: send it again in a moment
                page.status_code = exc.status
                page.headers.update(exc.headers)
            return page
        if sent.scheduled:
            await record(s.db, admin, "schedule", describe_target(to), {
                "scheduledId": sent.id, "title": compose.request.title, "sendAt": sent.send_at,
                "target": msgspec.structs.asdict(to), "priority": compose.request.priority})
            return redirect(f"/admin/scheduled?scheduled={sent.id}")
        await record(s.db, admin, "send", describe_target(to), {
            "notificationId": sent.id, "title": compose.request.title, "recipients": sent.recipients,
            "target": msgspec.structs.asdict(to), "priority": compose.request.priority})
        return redirect(f"/admin/notifications/{sent.id}?sent=1")

    async def _form(self, request: Request, compose: Compose, errors: dict[str, str]) -> Response[str]:
        s = services(request)
        group_names, topic_names = await s.audience.names(500)
        return render(request, "send.html", status=422 if errors else 200, title="Send", v=compose.values,
                      errors=errors, groups=group_names, topics=topic_names, icon=s.settings.push_icon_url,
                      pushed=compose.values["priority"] in s.settings.push_priorities)
