"""Groups and topics in the admin: list, create, edit members, see and change followers.

Changes go through ``audience.Audience``, the code behind ``/api/groups`` and
``/api/topics``, and each one is written to the audit log.
"""
from __future__ import annotations

import re

from litestar import Controller, Request, Response, get, post

from herald.admin.audit import record
from herald.admin.pages import redirect, render
from herald.api.auth import services
from herald.errors import not_found
from herald.wire import MAX_USERS, NAME_RE

FORM_BODY_BYTES = 2 * 1024 * 1024
SHOWN = 1000
NAME_RULE = "1-128 letters, digits or . _ : @ + -, starting with a letter or digit"


def parse_users(text: str) -> tuple[list[str], str | None]:
    users = list(dict.fromkeys(u for u in re.split(r"[\s,]+", text) if u))
    bad = [u for u in users if not NAME_RE.match(u)]
    if bad:
        return users, f"Not a user id: {bad[0]!r}. An id is {NAME_RULE}."
    if len(users) > MAX_USERS:
        return users, f"A group has at most {MAX_USERS:,} members."
    return users, None


def _check_name(name: str, what: str) -> str | None:
    return None if NAME_RE.match(name) else f"A {what} name is {NAME_RULE}."


class GroupsController(Controller):
    path = "/groups"
    request_max_body_size = FORM_BODY_BYTES

    @get("/")
    async def page(self, request: Request) -> Response[str]:
        return await self._list(request, {}, {})

    @post("/")
    async def create(self, request: Request, admin: str) -> Response[str]:
        form = await request.form()
        values = {"name": str(form.get("name", "")).strip(), "members": str(form.get("members", ""))}
        errors = {}
        if error := _check_name(values["name"], "group"):
            errors["name"] = error
        elif await services(request).audience.get_group(values["name"]) is not None:
            errors["name"] = f"There is already a group named {values['name']!r}."
        members, error = parse_users(values["members"])
        if error:
            errors["members"] = error
        if errors:
            return await self._list(request, values, errors)
        await services(request).audience.put_group(values["name"], members)
        await record(services(request).db, admin, "group.create", values["name"], {"members": len(members)})
        return redirect(f"/admin/groups/{values['name']}")

    @get("/{name:str}")
    async def group(self, request: Request, name: str) -> Response[str]:
        members = await services(request).audience.get_group(name)
        if members is None:
            raise not_found(f"No group named {name!r}.")
        return render(request, "group.html", title=f"Group {name}", name=name, members=members, shown=SHOWN,
                      text="\n".join(members), error=None, saved=request.query_params.get("saved") == "1")

    @post("/{name:str}")
    async def edit(self, request: Request, name: str, admin: str) -> Response[str]:
        s = services(request)
        before = await s.audience.get_group(name)
        if before is None:
            raise not_found(f"No group named {name!r}.")
        text = str((await request.form()).get("members", ""))
        members, error = parse_users(text)
        if error:
            return render(request, "group.html", status=422, title=f"Group {name}", name=name, members=before,
                          shown=SHOWN, text=text, error=error, saved=False)
        await s.audience.put_group(name, members)
        added, removed = sorted(set(members) - set(before)), sorted(set(before) - set(members))
        await record(s.db, admin, "group.update", name, {"added": added[:100], "removed": removed[:100],
                                                         "addedCount": len(added), "removedCount": len(removed)})
        return redirect(f"/admin/groups/{name}?saved=1")

    @post("/{name:str}/delete")
    async def delete(self, request: Request, name: str, admin: str) -> Response[str]:
        if not await services(request).audience.delete_group(name):
            raise not_found(f"No group named {name!r}.")
        await record(services(request).db, admin, "group.delete", name)
        return redirect("/admin/groups")

    async def _list(self, request: Request, values: dict[str, str], errors: dict[str, str]) -> Response[str]:
        rows = await services(request).audience.groups()
        return render(request, "groups.html", status=422 if errors else 200, title="Groups", rows=rows,
                      v={"name": "", "members": "", **values}, errors=errors)


class TopicsController(Controller):
    path = "/topics"

    @get("/")
    async def page(self, request: Request) -> Response[str]:
        return await self._list(request, {}, {})

    @post("/")
    async def follow_new(self, request: Request, admin: str) -> Response[str]:
        """A topic exists once someone follows it: create one by adding its first followers."""
        form = await request.form()
        values = {"topic": str(form.get("topic", "")).strip(), "users": str(form.get("users", ""))}
        errors = {}
        if error := _check_name(values["topic"], "topic"):
            errors["topic"] = error
        users, error = parse_users(values["users"])
        if error or not users:
            errors["users"] = error or "Name at least one follower."
        if errors:
            return await self._list(request, values, errors)
        await self._follow(request, admin, values["topic"], users)
        return redirect(f"/admin/topics/{values['topic']}")

    @get("/{topic:str}")
    async def topic(self, request: Request, topic: str) -> Response[str]:
        return await self._topic(request, topic, "", None)

    @post("/{topic:str}/followers")
    async def follow(self, request: Request, topic: str, admin: str) -> Response[str]:
        text = str((await request.form()).get("users", ""))
        users, error = parse_users(text)
        if error or not users:
            return await self._topic(request, topic, text, error or "Name at least one user.")
        await self._follow(request, admin, topic, users)
        return redirect(f"/admin/topics/{topic}")

    @post("/{topic:str}/followers/{user:str}/remove")
    async def unfollow(self, request: Request, topic: str, user: str, admin: str) -> Response[str]:
        if not await services(request).audience.unfollow(topic, user):
            raise not_found(f"{user!r} does not follow {topic!r}.")
        await record(services(request).db, admin, "topic.unfollow", topic, {"users": [user]})
        return redirect(f"/admin/topics/{topic}")

    async def _follow(self, request: Request, admin: str, topic: str, users: list[str]) -> None:
        audience = services(request).audience
        for user in users:
            await audience.follow(topic, user)
        await record(services(request).db, admin, "topic.follow", topic, {"users": users[:100], "count": len(users)})

    async def _topic(self, request: Request, topic: str, text: str, error: str | None) -> Response[str]:
        if _check_name(topic, "topic"):
            raise not_found(f"No topic named {topic!r}.")
        followers = await services(request).audience.followers(topic)
        return render(request, "topic.html", status=422 if error else 200, title=f"Topic {topic}", topic=topic,
                      followers=followers[:SHOWN], total=len(followers), text=text, error=error)

    async def _list(self, request: Request, values: dict[str, str], errors: dict[str, str]) -> Response[str]:
        rows = await services(request).audience.topics()
        return render(request, "topics.html", status=422 if errors else 200, title="Topics", rows=rows,
                      v={"topic": "", "users": "", **values}, errors=errors)

