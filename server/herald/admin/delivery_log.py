"""How each notification was delivered, for the admin's table: live, by push, or left in the inbox.

The publisher hands every publish here after its fan-out (``record`` is a
list append). Once a second the admin's background loop asks the bus which
recipients were online (``Fanout.online``, cluster-wide on Redis) and writes
``live_recipients`` and ``push_queued`` onto the notification rows in one
transaction. So publishing pays nothing, and the counts appear about a
second after the 202; a process that dies first leaves them null ("not
recorded"), never wrong.

"Live" means online when the counts were taken, within about a second of the
fan-out: a connection that closed in that second is counted as not live.
"""
from __future__ import annotations

import logging
from typing import Sequence

from sqlalchemy import bindparam

from herald.db import Database
from herald.fanout.base import Fanout
from herald.inbox import InboxWrite
from herald.models import notifications

log = logging.getLogger("herald.admin")
MAX_PENDING = 10_000


class DeliveryLog:
    def __init__(self, db: Database, fanout: Fanout) -> None:
        self.db = db
        self.fanout = fanout
        self._pending: list[tuple[str, list[str], int]] = []

    def record(self, notification_id: str, deliveries: Sequence[InboxWrite], pushes_queued: int) -> None:
        if len(self._pending) < MAX_PENDING:  # a stalled database must not grow this without bound
            self._pending.append((notification_id, [d.user_id for d in deliveries], pushes_queued))

    async def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        online = await self.fanout.online({user for _, users, _ in pending for user in users})
        rows = [{"nid": nid, "live": sum(1 for u in users if u in online), "pushes": pushes}
                for nid, users, pushes in pending]
        statement = (notifications.update().where(notifications.c.id == bindparam("nid"))
                     .values(live_recipients=bindparam("live"), push_queued=bindparam("pushes")))
        async with self.db.write() as conn:
            await conn.execute(statement, rows)
