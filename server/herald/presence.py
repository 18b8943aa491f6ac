"""Presence: whether a user is looking at the product right now, in some tab or app, on any node.

Clients report their page's visibility (``document.visibilityState``) with
``POST /api/presence`` and a client id of their own (one per tab). A report
of "visible" holds for ``HERALD_PRESENCE_TTL_SECONDS`` (clients repeat it
while they stay visible); "hidden" ends it at once. A user counts as visible
when a report holds *and* the fan-out sees a live connection of theirs, so a
tab that closed without saying so stops counting when its connection goes.

Where it is decided: preferences.py asks ``visible`` for each new item's
recipients; a visible user gets no push, and the live event names the
visible clients (``"watched": ["<client id>"]``), so every *other* tab skips
its system notification. A tab ignores its own id there: its report may be a
moment stale (it just went hidden), and then it is the one to alert.

Two stores, one contract: in-process (one node only: reports made to another
node are not seen here) and Redis (``HERALD_REDIS_URL``), a hash per user of
client id to expiry, shared by every node.
"""
from __future__ import annotations

import logging
from typing import Iterable

from redis.exceptions import RedisError

from herald.fanout.base import Fanout
from herald.wire import now_ms

log = logging.getLogger("herald.presence")

MAX_WATCHERS = 5  # client ids named in one event: enough to tell "another tab" from "this tab"


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
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    if visible:
                        pipe.hset(key, client_id, now + self.ttl_ms)
                        pipe.pexpire(key, self.ttl_ms)
                    else:
                        pipe.hdel(key, client_id)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                # Best effort, as the lookup is: a lost report only means a push the user did not need.
                log.warning("presence report for %s not stored (Redis: %s)", user_id, exc)
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

    async def visible(self, user_ids: Iterable[str]) -> dict[str, list[str]]:
        """The users looking now, each with the clients that said so. Never raises: unknown is "not looking"."""
        wanted = set(user_ids)
        if not wanted:
            return {}
        try:
            # Online first: most recipients of a big publish have no connection, and so no report to look up.
            online = await self.fanout.online(wanted)
            return await self._reported(online) if online else {}
        except Exception:  # noqa: BLE001 - presence only spares a push; without it the push goes out
            log.exception("presence lookup failed for %d users", len(wanted))
            return {}

    async def _reported(self, user_ids: set[str]) -> dict[str, list[str]]:
        now = now_ms()
        users = sorted(user_ids)
        if self._redis is None:
            answers = [self._local.get(u, {}) for u in users]
        else:
            async with self._redis.pipeline(transaction=False) as pipe:
                for user_id in users:
                    pipe.hgetall(f"herald:visible:{user_id}")
                answers = [{k.decode(): int(v) for k, v in a.items()} for a in await pipe.execute()]
        found = {u: sorted(c for c, until in clients.items() if until > now)[:MAX_WATCHERS]
                 for u, clients in zip(users, answers)}
        return {u: clients for u, clients in found.items() if clients}

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
