"""Scheduled delivery: a publish with ``sendAt`` is kept in ``scheduled_notifications`` and sent at its time.

Accepting (``Scheduler.schedule``, reached through ``Publisher.publish``): the publish is checked whole
now, by the same rules as one sent at once, its group must exist, and it is stored; the answer (202) holds
the id the notification will have. The audience is expanded at send time: a group's members then, a topic's
followers then.

Sending: every node runs one loop (``run_forever``). It sleeps until the earliest pending ``send_at`` it
knows, is woken early when this node accepts an earlier one, and looks again at least every
``poll_seconds`` for rows that other nodes accepted. A due row goes out through ``Publisher.publish_due``,
whose one transaction first claims the row (``SELECT ... FOR UPDATE SKIP LOCKED``, then marks it sent) and
then writes the notification and its inbox items: both commit or neither. With two nodes due at once, the
second skips the row the first holds and finds it sent afterwards; a crash before the commit leaves the row
pending for whichever node looks next, so nothing is lost and nothing is sent twice. SQLite has one writer
(db.py's ``BEGIN IMMEDIATE``, across ``--workers`` processes too), which serialises the claim there; its
dialect leaves the lock clause out.

Cancelling takes the same row lock without skipping: a cancel that arrives while a node is sending waits for
that commit, then finds the row sent (404). A cancel that succeeds means the notification never goes out.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
from redis.exceptions import RedisError
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from herald.db import Database
from herald.errors import HeraldError, invalid_cursor, invalid_request
from herald.metrics import Metrics
from herald.models import idempotency_keys, scheduled_notifications
from herald.publish import Publisher
from herald.tasks import cancel, wait_event
from herald.wire import PublishRequest, PublishResponse, Target, new_id, now_ms

log = logging.getLogger("herald.schedule")

MAX_AHEAD_MS = 30 * 24 * 3600 * 1000
SKEW_MS = 1000
"""A ``sendAt`` this little in the past is a clock a bit ahead of Herald's, not a mistake: it goes out at once."""
BATCH = 100
RETRY_SECONDS = 1.0
HELD_SECONDS = 0.05
MAX_ATTEMPTS = 5  # an unexpected error on one row, this often in a row, fails it so that it blocks nothing
PRUNE_EVERY_SECONDS = 600.0
PENDING, SENT, CANCELLED, FAILED = "pending", "sent", "cancelled", "failed"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_TRANSIENT = (OperationalError, InterfaceError, PoolTimeout, ConnectionError, TimeoutError, OSError, RedisError)
_decode = msgspec.json.Decoder(PublishRequest).decode
_table = scheduled_notifications


def to_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def iso(ms: int) -> str:
    """RFC 3339 in UTC with milliseconds, the way Herald writes every time it answers with."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_send_at(request: PublishRequest, now: int | None = None) -> None:
    """At the API's edge: a ``sendAt`` in the past (beyond ``SKEW_MS``) or beyond 30 days is a 400.

    Only where a producer sends it now: a log consumer's message may be late by the log's own delay,
    and goes out at once rather than to the dead letters.
    """
    if request.send_at is None:
        return
    now = now_ms() if now is None else now
    send_at = to_ms(request.send_at)
    if send_at < now - SKEW_MS:
        raise invalid_request(f'"sendAt" is in the past ({iso(send_at)}, now {iso(now)}): give a time up to 30 days '
                              'ahead, or leave it out to send now.')
    if send_at > now + MAX_AHEAD_MS:
        raise invalid_request('"sendAt" may be at most 30 days ahead.')


@dataclass(frozen=True)
class Scheduled:
    """One scheduled publish as stored."""

    id: str
    producer: str
    request: dict[str, Any]
    target: dict[str, Any]
    send_at: int
    replace_key: str | None
    created_at: int
    status: str
    finished_at: int | None
    finished_by: str | None
    error: str | None

    @classmethod
    def from_row(cls, row: Row) -> "Scheduled":  # type: ignore[type-arg]
        return cls(row.id, row.producer, msgspec.json.decode(row.request), row.target, row.send_at, row.replace_key,
                   row.created_at, row.status, row.finished_at, row.finished_by, row.error)

    @property
    def cursor(self) -> str:
        return f"{self.send_at}-{self.id}"


class Scheduler:
    def __init__(self, db: Database, publisher: Publisher, metrics: Metrics, *, poll_seconds: float) -> None:
        self.db = db
        self.publisher = publisher
        self.metrics = metrics
        self.poll_seconds = poll_seconds
        self.keep_finished_ms = publisher.idempotency_ms  # a retried publish finds its answer as long as its key
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._attempts: dict[str, int] = {}
        self._pruned_at = 0.0

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run_forever(), name="herald-schedule")

    async def stop(self) -> None:
        await cancel([self._task])
        self._task = None

    # Accepting.

    async def schedule(self, request: PublishRequest, producer: str) -> PublishResponse:
        """Store a publish for its ``sendAt``; a 400 for what can never be sent, a 404 for an unknown group."""
        assert request.send_at is not None
        if not request.persist:
            raise invalid_request('"sendAt" needs the inbox: a live channel event is sent now or never.')
        send_at = to_ms(request.send_at)
        if send_at > now_ms() + MAX_AHEAD_MS:
            raise invalid_request('"sendAt" may be at most 30 days ahead.')
        replace_key = request.replace_key
        if replace_key is not None and not (0 < len(replace_key) <= 200 and "\x00" not in replace_key):
            raise invalid_request('"replaceKey" must be 1-200 characters, without NUL.')
        key = request.idempotency_key
        if key is not None and (earlier := await self._earlier_answer(producer, key)) is not None:
            self.metrics.idempotent_replays.inc()
            return earlier
        row_id, now = new_id(), now_ms()
        try:
            async with self.db.write() as conn:
                if key is not None:
                    # As Publisher._persist does: claim the key first, so a concurrent twin fails on it.
                    await conn.execute(delete(idempotency_keys).where(
                        idempotency_keys.c.producer == producer, idempotency_keys.c.key == key,
                        idempotency_keys.c.created_at < now - self.publisher.idempotency_ms))
                    await conn.execute(idempotency_keys.insert().values(
                        producer=producer, key=key, notification_id=row_id, recipients=0, created_at=now))
                if request.to.group is not None:
                    await self.publisher.audience.expand(conn, request.to)  # a bad target fails now, not at its time
                await conn.execute(_table.insert().values(
                    id=row_id, producer=producer, request=msgspec.json.encode(request).decode(),
                    target=msgspec.to_builtins(request.to), send_at=send_at, replace_key=replace_key,
                    created_at=now, status=PENDING))
        except IntegrityError:
            earlier = await self._earlier_answer(producer, key) if key else None
            if earlier is None:
                raise
            self.metrics.idempotent_replays.inc()
            return earlier
        self.metrics.scheduled.labels("scheduled").inc()
        self._wake.set()
        return PublishResponse(row_id, None, send_at=iso(send_at), scheduled=True)

    async def _earlier_answer(self, producer: str, key: str) -> PublishResponse | None:
        async with self.db.read() as conn:
            first = (await conn.execute(select(idempotency_keys.c.notification_id, idempotency_keys.c.recipients).where(
                idempotency_keys.c.producer == producer, idempotency_keys.c.key == key,
                idempotency_keys.c.created_at >= now_ms() - self.publisher.idempotency_ms))).first()
            if first is None:
                return None
            send_at = (await conn.execute(select(_table.c.send_at)
                                          .where(_table.c.id == first.notification_id))).scalar()
        if send_at is None:  # the key's first use was a publish sent at once
            return PublishResponse(first.notification_id, first.recipients)
        return PublishResponse(first.notification_id, None, send_at=iso(send_at), scheduled=True)

    # Sending.

    async def run_forever(self) -> None:
        while True:
            self._wake.clear()  # before looking: a row accepted from here on wakes the wait below
            wait = self.poll_seconds
            try:
                await self.send_due()
                next_at = await self._next_due()
                if next_at is not None:
                    left = (next_at - now_ms()) / 1000
                    # Due still, after send_due: another node holds it (or it failed for now). Look again
                    # shortly, not at once, or this loop would spin until that node commits.
                    wait = min(wait, left if left > 0 else HELD_SECONDS)
                await self._prune_now_and_then()
            except Exception:  # noqa: BLE001 - the database is away: every row is still pending, try again
                self.metrics.database_errors.labels("schedule").inc()
                log.exception("sending scheduled notifications failed; trying again in %g s", RETRY_SECONDS)
                wait = RETRY_SECONDS
            await wait_event(self._wake, wait)

    async def send_due(self) -> int:
        """Send every pending row that is due; returns how many this node sent."""
        sent = 0
        while True:
            async with self.db.read() as conn:
                due = list((await conn.execute(select(_table.c.id).where(
                    _table.c.status == PENDING, _table.c.send_at <= now_ms(),
                ).order_by(_table.c.send_at, _table.c.id).limit(BATCH))).scalars())
            outcomes = [await self._send(row_id) for row_id in due]
            sent += outcomes.count(SENT)
            if len(due) < BATCH or None in outcomes:  # None: another node holds it; it will be done with it soon
                return sent

    async def _send(self, row_id: str) -> str | None:
        """Send one row: SENT, FAILED, or None when another node has it (or it was cancelled meanwhile)."""
        due: list[int] = []

        async def claim(conn: Any) -> tuple[PublishRequest, str, str] | None:
            row = (await conn.execute(select(_table.c.producer, _table.c.request, _table.c.send_at).where(
                _table.c.id == row_id, _table.c.status == PENDING).with_for_update(skip_locked=True))).first()
            if row is None:
                return None
            request = msgspec.structs.replace(_decode(row.request), send_at=None, idempotency_key=None)
            await conn.execute(_table.update().where(_table.c.id == row_id).values(status=SENT, finished_at=now_ms()))
            due.append(row.send_at)
            return request, row.producer, row_id

        try:
            response = await self.publisher.publish_due(claim)
        except HeraldError as exc:
            if exc.status >= 500:
                raise
            # What can no longer be sent: its group was deleted since it was accepted, say.
            return await self._fail(row_id, f"{exc.code}: {exc.message}")
        except (msgspec.DecodeError, msgspec.ValidationError, IntegrityError) as exc:
            return await self._fail(row_id, f"cannot be sent: {exc}")
        except _TRANSIENT:
            raise
        except Exception as exc:  # noqa: BLE001 - one odd row must not hold back the rows behind it
            attempts = self._attempts[row_id] = self._attempts.get(row_id, 0) + 1
            log.exception("scheduled notification %s failed (attempt %d of %d)", row_id, attempts, MAX_ATTEMPTS)
            if attempts < MAX_ATTEMPTS:
                return None
            return await self._fail(row_id, f"failed {attempts} times: {type(exc).__name__}: {exc}")
        self._attempts.pop(row_id, None)
        if response is None:
            return None
        lateness = max(0, now_ms() - due[0]) / 1000
        self.metrics.scheduled_lateness.observe(lateness)
        self.metrics.scheduled.labels("sent").inc()
        log.info("scheduled notification %s sent to %s recipients, %.3f s after its time", row_id,
                 response.recipients, lateness)
        return SENT

    async def _fail(self, row_id: str, error: str) -> str:
        self._attempts.pop(row_id, None)
        async with self.db.write() as conn:
            result = await conn.execute(_table.update().where(_table.c.id == row_id, _table.c.status == PENDING)
                                        .values(status=FAILED, finished_at=now_ms(), error=error[:300]))
        if result.rowcount:
            self.metrics.scheduled.labels("failed").inc()
            log.warning("scheduled notification %s not sent: %s", row_id, error)
        return FAILED

    async def _next_due(self) -> int | None:
        async with self.db.read() as conn:
            return (await conn.execute(select(_table.c.send_at).where(_table.c.status == PENDING)
                                       .order_by(_table.c.send_at).limit(1))).scalar()

    async def _prune_now_and_then(self) -> None:
        if time.monotonic() - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = time.monotonic()
        async with self.db.write() as conn:
            await conn.execute(delete(_table).where(_table.c.status != PENDING,
                                                    _table.c.finished_at < now_ms() - self.keep_finished_ms))

    # Cancelling and listing.

    async def cancel(self, row_id: str, by: str) -> Scheduled | None:
        """Cancel one pending row; None when there is none (unknown, sent, cancelled or failed)."""
        async with self.db.write() as conn:
            row = (await conn.execute(select(_table).where(_table.c.id == row_id, _table.c.status == PENDING)
                                      .with_for_update())).first()
            if row is None:
                return None
            await conn.execute(_table.update().where(_table.c.id == row_id)
                               .values(status=CANCELLED, finished_at=now_ms(), finished_by=by[:64]))
        self.metrics.scheduled.labels("cancelled").inc()
        return Scheduled.from_row(row)

    async def cancel_by_key(self, replace_key: str, to: Target | None, by: str) -> list[str]:
        """Cancel the pending rows with this replace key (and this exact ``to``, when given); their ids."""
        async with self.db.write() as conn:
            rows = list(await conn.execute(select(_table.c.id, _table.c.target).where(
                _table.c.replace_key == replace_key, _table.c.status == PENDING).with_for_update()))
            wanted = None if to is None else _canonical(msgspec.to_builtins(to))
            ids = [row.id for row in rows if wanted is None or _canonical(row.target) == wanted]
            if ids:
                await conn.execute(_table.update().where(self.db.among(_table.c.id, ids))
                                   .values(status=CANCELLED, finished_at=now_ms(), finished_by=by[:64]))
        self.metrics.scheduled.labels("cancelled").inc(len(ids))
        return ids

    async def get(self, row_id: str) -> Scheduled | None:
        async with self.db.read() as conn:
            row = (await conn.execute(select(_table).where(_table.c.id == row_id))).first()
        return Scheduled.from_row(row) if row else None

    async def pending(self, limit: int, after: str | None = None,
                      replace_key: str | None = None) -> list[Scheduled]:
        """Pending rows in the order they will go out, from just after the cursor ``after``."""
        query = select(_table).where(_table.c.status == PENDING)
        if after:
            send_at, row_id = _parse_cursor(after)
            query = query.where(or_(_table.c.send_at > send_at,
                                    and_(_table.c.send_at == send_at, _table.c.id > row_id)))
        if replace_key is not None:
            query = query.where(_table.c.replace_key == replace_key)
        async with self.db.read() as conn:
            rows = await conn.execute(query.order_by(_table.c.send_at, _table.c.id).limit(limit))
            return [Scheduled.from_row(row) for row in rows]


def _parse_cursor(cursor: str) -> tuple[int, str]:
    send_at, _, row_id = cursor.partition("-")
    if not (send_at.isascii() and send_at.isdigit() and len(send_at) <= 16 and row_id.isascii()
            and row_id.isalnum() and len(row_id) == 26):
        raise invalid_cursor("after must be a cursor that GET /api/scheduled issued.")
    return int(send_at), row_id


def _canonical(target: dict[str, Any]) -> dict[str, Any]:
    """A target with its users as a sorted set, so that the order they were listed in does not matter."""
    if target.get("users") is not None:
        return {**target, "users": sorted(set(target["users"]))}
    return target
