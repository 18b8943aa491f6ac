"""Presence: whether a user is looking at the product right now, in some tab or app, on any node.

Clients report their page's visibility (``document.visibilityState``) with
``POST /api/presence`` and a client id of their own (one per tab). A report
of "visible" holds for ``HERALD_PRESENCE_TTL_SECONDS`` (clients repeat it
while they stay visible); "hidden" ends it at once. A user counts as visible
when a report holds *and* the fan-out sees a live connection of theirs, so a
tab that closed without saying so stops counting when its connection goes.

Where it is decided: publish.py asks ``visible`` for each new item's
recipients; a visible user gets no push and the live event says
``"system": false``, so no other tab raises a system notification.

Two stores, one contract: in-process (one node only: reports made to another
node are not seen here) and Redis (``HERALD_REDIS_URL``), a hash per user of
client id to expiry, shared by every node.
"""
from __future__ import annotations

import logging
from typing import Iterable

from herald.fanout.base import Fanout
from herald.wire import now_ms

log = logging.getLogger("herald.presence")


class Visibility:
    def __init__(self, fanout: Fanout, ttl_seconds: float, redis_url: str | None = None) -> None:
        self.fanout = fanout
        self.ttl_ms = int(ttl_seconds * 1000)
        self._local: dict[str, dict[str, int]] = {}
        self._redis = None
        if redis_url:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(redis_url)

    async def report(self, user_id: str, client_id: str, visible: bool) -> None:
        now = now_ms()
        if self._redis is not None:
            key = f"herald:visible:{user_id}"
            async with self._redis.pipeline(transaction=False) as pipe:
                if visible:
                    pipe.hset(key, client_id, now + self.ttl_ms)
                    pipe.pexpire(key, self.ttl_ms)
                else:
                    pipe.hdel(key, client_id)
                await pipe.execute()
            return
        clients = self._local.setdefault(user_id, {})
        # Drop what expired, so a user's map stays as small as their open tabs.
        for client, until in list(clients.items()):
            if until <= now:
                del clients[client]
        if visible:
            clients[client_id] = now + self.ttl_ms
        else:
            clients.pop(client_id, None)
        if not clients:
            del self._local[user_id]

    async def visible(self, user_ids: Iterable[str]) -> set[str]:
        """Which of these users are looking now. Never raises: unknown presence is "not looking"."""
        wanted = set(user_ids)
        if not wanted:
            return set()
        try:
            # Online first: most recipients of a big publish have no connection, and so no report to look up.
            online = await self.fanout.online(wanted)
            return await self._reported(online) if online else set()
        except Exception:  # noqa: BLE001 - presence only spares a push; without it the push goes out
            log.exception("presence lookup failed for %d users", len(wanted))
            return set()

    async def _reported(self, user_ids: set[str]) -> set[str]:
        now = now_ms()
        if self._redis is None:
            return {u for u in user_ids if any(until > now for until in self._local.get(u, {}).values())}
        users = sorted(user_ids)
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id in users:
                pipe.hvals(f"herald:visible:{user_id}")
            answers = await pipe.execute()
        return {u for u, values in zip(users, answers) if any(int(v) > now for v in values)}

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
