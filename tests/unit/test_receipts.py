"""Delivered receipts: the batched HTTP endpoint, the WebSocket ``ack``, what is stored and what is refused."""
from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from herald.db import Database, migrate
from herald.metrics import Metrics
from herald.receipts import MAX_IDS_PER_ACK, MAX_PENDING_PER_USER, Receipts


async def test_one_user_cannot_crowd_out_the_others(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'herald.db'}"
    await asyncio.to_thread(migrate, url)
    db = Database(url)
    try:
        async with db.write() as conn:
            for user_id, item_id in (("flooder", "real"), ("other", "theirs")):
                await conn.execute(text(
                    "INSERT INTO inbox_items (user_id, id, seq, notification_id, group_count, read, created_at,"
                    " updated_at) VALUES (:u, :i, 1, :i, 1, false, 1, 1)"), {"u": user_id, "i": item_id})
        receipts = Receipts(db, Metrics())
        for batch in range(MAX_PENDING_PER_USER // MAX_IDS_PER_ACK):
            receipts.record("flooder", [f"made-up-{batch}-{i}" for i in range(MAX_IDS_PER_ACK)], "http")
        receipts.record("flooder", ["real"], "http")  # over its share: dropped
        receipts.record("other", ["theirs"], "http")
        await receipts.flush()
        async with db.read() as conn:
            stamped = dict((await conn.execute(text("SELECT id, delivered_at FROM inbox_items"))).all())
        assert stamped["real"] is None and stamped["theirs"] is not None
        receipts.record("flooder", ["real"], "http")  # the share is per flush
        await receipts.flush()
        async with db.read() as conn:
            assert (await conn.execute(text("SELECT delivered_at FROM inbox_items WHERE id = 'real'"))).scalar()
    finally:
        await db.close()
