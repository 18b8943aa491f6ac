"""Who a notification goes to: groups kept by the producer, topics followed by users, everyone."""
from __future__ import annotations

import logging
from typing import Sequence

from sqlalchemy import delete, distinct, func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.db import Database
from herald.errors import not_found
from herald.models import group_members, groups, topic_follows_ended, topic_subscribers, users
from herald.fanout.base import BusEvent, Fanout, Follows
from herald.wire import Target, encoder, now_ms

log = logging.getLogger("herald.audience")

CHUNK = 500


class Audience:
    def __init__(self, db: Database, fanout: Fanout | None = None) -> None:
        self.db = db
        self.fanout = fanout  # told of follows, so that open connections hear a topic's broadcasts (broadcasts.py)

    async def _announce_follow(self, user_id: str, topic: str, following: bool) -> None:
        if self.fanout is None:
            return
        try:
            await self.fanout.publish([BusEvent("follows", user_id, 0, 0, encoder.encode(Follows(topic, following)))])
        except Exception as exc:  # noqa: BLE001 - the follow committed; the inbox still gets what it must on its next read
            log.warning("announcing %s following %s failed: %s", user_id, topic, exc)

    async def expand(self, conn: AsyncConnection, target: Target) -> list[str]:
        """The user ids a target names right now, without duplicates."""
        if target.users is not None:
            return list(dict.fromkeys(target.users))
        if target.group is not None:
            if (await conn.execute(select(groups.c.name).where(groups.c.name == target.group))).first() is None:
                raise not_found(f"No group named {target.group!r}.")
            query = select(group_members.c.user_id).where(group_members.c.group_name == target.group)
        elif target.topic is not None:
            query = select(topic_subscribers.c.user_id).where(topic_subscribers.c.topic == target.topic)
        else:
            query = select(users.c.user_id)
        return list((await conn.execute(query)).scalars())

    async def register(self, conn: AsyncConnection, user_ids: Sequence[str]) -> None:
        """Make users known (so ``{"all": true}`` reaches them) without touching their sequence."""
        now = now_ms()
        for start in range(0, len(user_ids), CHUNK):
            rows = [{"user_id": u, "last_seq": 0, "pruned_seq": 0, "created_at": now} for u in user_ids[start:start + CHUNK]]
            await conn.execute(self.db.insert(users).values(rows).on_conflict_do_nothing(index_elements=[users.c.user_id]))

    async def put_group(self, name: str, members: Sequence[str]) -> None:
        members = list(dict.fromkeys(members))
        async with self.db.write() as conn:
            await conn.execute(self.db.insert(groups).values(name=name, created_at=now_ms())
                               .on_conflict_do_nothing(index_elements=[groups.c.name]))
            await conn.execute(delete(group_members).where(group_members.c.group_name == name))
            for start in range(0, len(members), CHUNK):
                chunk = members[start:start + CHUNK]
                await conn.execute(group_members.insert().values([{"group_name": name, "user_id": u} for u in chunk]))
            await self.register(conn, members)

    async def get_group(self, name: str) -> list[str] | None:
        async with self.db.read() as conn:
            exists = (await conn.execute(select(groups.c.name).where(groups.c.name == name))).first()
            if exists is None:
                return None
            rows = await conn.execute(
                select(group_members.c.user_id).where(group_members.c.group_name == name).order_by(group_members.c.user_id)
            )
            return list(rows.scalars())

    async def delete_group(self, name: str) -> bool:
        async with self.db.write() as conn:
            await conn.execute(delete(group_members).where(group_members.c.group_name == name))
            return bool((await conn.execute(delete(groups).where(groups.c.name == name))).rowcount)

    async def follow(self, topic: str, user_id: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(self.db.insert(topic_subscribers).values(topic=topic, user_id=user_id, created_at=now_ms())
                               .on_conflict_do_nothing(index_elements=[topic_subscribers.c.topic, topic_subscribers.c.user_id]))
            await self.register(conn, [user_id])
        await self._announce_follow(user_id, topic, True)

    async def unfollow(self, topic: str, user_id: str) -> bool:
        async with self.db.write() as conn:
            ended = (await conn.execute(delete(topic_subscribers).where(
                topic_subscribers.c.topic == topic, topic_subscribers.c.user_id == user_id)
                .returning(topic_subscribers.c.created_at))).scalars().all()
            if ended:  # what came while they followed stays theirs when their inbox catches up (broadcasts.py)
                await conn.execute(topic_follows_ended.insert().values(
                    topic=topic, user_id=user_id, followed_at=ended[0], ended_at=now_ms()))
        if ended:
            await self._announce_follow(user_id, topic, False)
        return bool(ended)

    async def followers(self, topic: str) -> list[str]:
        async with self.db.read() as conn:
            rows = await conn.execute(select(topic_subscribers.c.user_id)
                                      .where(topic_subscribers.c.topic == topic).order_by(topic_subscribers.c.user_id))
            return list(rows.scalars())

    async def groups(self) -> list[Row]:  # type: ignore[type-arg]
        """Every group with its member count (``name``, ``created_at``, ``members``), by name."""
        async with self.db.read() as conn:
            return list(await conn.execute(
                select(groups.c.name, groups.c.created_at, func.count(group_members.c.user_id).label("members"))
                .select_from(groups.outerjoin(group_members, group_members.c.group_name == groups.c.name))
                .group_by(groups.c.name, groups.c.created_at).order_by(groups.c.name)))

    async def topics(self) -> list[Row]:  # type: ignore[type-arg]
        """Every topic someone follows, with its follower count (``topic``, ``followers``), by name."""
        async with self.db.read() as conn:
            return list(await conn.execute(
                select(topic_subscribers.c.topic, func.count().label("followers"))
                .group_by(topic_subscribers.c.topic).order_by(topic_subscribers.c.topic)))

    async def names(self, limit: int) -> tuple[list[str], list[str]]:
        """Up to ``limit`` group names and topic names, sorted, for pickers."""
        async with self.db.read() as conn:
            group_names = list((await conn.execute(select(groups.c.name).order_by(groups.c.name).limit(limit))).scalars())
            topic_names = list((await conn.execute(select(distinct(topic_subscribers.c.topic))
                                                   .order_by(topic_subscribers.c.topic).limit(limit))).scalars())
        return group_names, topic_names

    async def count(self, target: Target) -> int:
        """How many users a target names right now."""
        async with self.db.read() as conn:
            return len(await self.expand(conn, target))
