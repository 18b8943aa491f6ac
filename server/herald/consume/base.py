"""The consumer framework: one loop for every durable log, each source only fetches, acks and reports lag.

A message is the contract's publish request (the JSON body of ``POST
/api/publish``) plus an id the source gives it (stream sequence, entry id,
partition and offset, outbox row id). That id becomes the publish's
idempotency key, unless the message names its own ``idempotencyKey``, so a
message delivered twice notifies once: effectively exactly once, for as long
as Herald keeps idempotency keys (``HERALD_IDEMPOTENCY_SECONDS``).

The loop, per batch:

1. Messages are split by their ordering key (a user id, a subject, a
   partition). Keys run side by side, at most ``concurrency`` at once; one
   key's messages run one after the other, in the order the source gave them.
2. A message that can never be published (bad JSON, a field over a limit, an
   unknown group) is written to the dead-letter table with its error and
   acknowledged, so it never blocks the messages behind it.
3. A failure that is not the message's fault (the database or the bus down,
   the publish rate limit) stops that key where it is: nothing after it is
   published, nothing is acknowledged, no new batch is taken. The rest is
   retried with backoff until it goes through, the source being told to keep
   holding it (``hold``), so that it is neither lost nor handed elsewhere.
4. Acknowledgement comes only after the publish (or the dead letter) has
   committed. If acknowledging fails, the source is unhealthy: what was in
   hand is given back (``abandon``) and comes again later; its idempotency
   key makes the second publish answer as the first did.
"""
from __future__ import annotations

import abc
import asyncio
import hashlib
import logging
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import msgspec
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from herald.errors import HeraldError
from herald.tasks import cancel
from herald.wire import PublishRequest, check_publish

if TYPE_CHECKING:
    from herald.consume.dead_letters import DeadLetters
    from herald.metrics import Metrics
    from herald.publish import Publisher

log = logging.getLogger("herald.consume")

MAX_KEY = 200  # idempotency_keys.key
LAG_HISTORY = 120  # lag samples kept for the admin dashboard's chart


@dataclass(eq=False)
class Message:
    """One message of a log, as the loop sees it. ``handle`` is the source's own (a NATS message, an offset)."""

    source_id: str
    """Unique within the source: the idempotency key of the publish (at most 200 characters)."""
    key: str
    """The ordering key: messages with the same key are published one at a time, in source order."""
    body: bytes
    produced_at: float | None = None
    """Seconds since the epoch the log stored it, for the age of the oldest unprocessed message."""
    handle: object = None
    attempts: int = 0


@dataclass(frozen=True)
class Lag:
    messages: int
    """Messages the source holds that Herald has not acknowledged yet (delivered or not)."""
    oldest_age_seconds: float
    """Age of the oldest of them; 0 when there are none."""


class Source(abc.ABC):
    """A durable log. Methods may raise anything on failure; the loop retries with backoff."""

    name: str
    """The metrics label and dead-letter source: ``nats``, ``redis``, ``outbox``, ``kafka``."""
    hold_every_seconds: float | None = None
    """How often ``hold`` must be called for messages in hand, for a source that redelivers what is held too long."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, and create what Herald owns (consumer, group) if missing. Called again after a failure."""

    @abc.abstractmethod
    async def fetch(self, max_messages: int, wait_seconds: float) -> list[Message]:
        """The next messages, waiting up to ``wait_seconds`` for one; [] when none came."""

    @abc.abstractmethod
    async def ack(self, messages: Sequence[Message]) -> None:
        """These are published (or dead-lettered): never deliver them again."""

    async def hold(self, messages: Sequence[Message]) -> None:
        """Still working on these (a retry after an outage): do not hand them to another node yet."""

    async def abandon(self, messages: Sequence[Message]) -> None:
        """Give these back unacknowledged; they must come again from a later ``fetch`` (or another node's)."""

    @abc.abstractmethod
    async def lag(self) -> Lag: ...

    @abc.abstractmethod
    async def close(self) -> None: ...


@dataclass(frozen=True)
class Options:
    batch_size: int = 100
    concurrency: int = 16
    poll_seconds: float = 1.0
    retry_base_seconds: float = 0.5
    retry_max_seconds: float = 30.0
    max_attempts: int = 5
    lag_interval_seconds: float = 5.0


class Retry(Exception):
    """Not the message's fault: retry it later. ``reason`` labels the metric (database, rate_limited, ...)."""

    def __init__(self, reason: str, detail: str, wait_seconds: float = 0.0) -> None:
        super().__init__(detail)
        self.reason = reason
        self.wait_seconds = wait_seconds


class Poison(Exception):
    """The message can never be published as it is: dead-letter it."""


_decode = msgspec.json.Decoder(PublishRequest).decode
_TRANSIENT = (OperationalError, InterfaceError, PoolTimeout, ConnectionError, TimeoutError, OSError, RedisError)


def classify(exc: BaseException) -> Retry | Poison | None:
    """What a publish failure means for the message; None: unknown, retried up to ``max_attempts``."""
    if isinstance(exc, HeraldError):
        if exc.status == 429:
            return Retry("rate_limited", exc.message, float(exc.headers.get("Retry-After", 1)))
        if exc.status >= 500:
            return Retry("unavailable", exc.message)
        return Poison(f"{exc.code}: {exc.message}")
    if isinstance(exc, DBAPIError):
        state = str(getattr(exc.orig, "sqlstate", "") or "")
        if state.startswith("22"):  # data exception: a value the database cannot store
            return Poison(f"the database refused a value: {exc.orig}")
        if exc.connection_invalidated or state.startswith(("08", "53", "57P")) or isinstance(exc, _TRANSIENT):
            return Retry("database", str(exc.orig))
    if isinstance(exc, _TRANSIENT):
        return Retry("database", str(exc) or type(exc).__name__)
    return None


def parse(message: Message) -> PublishRequest:
    """The publish request a message carries, keyed for idempotency; ``Poison`` when it is not one."""
    try:
        request = _decode(message.body)
        check_publish(request)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise Poison(f"invalid_request: {exc}") from None
    except HeraldError as exc:
        raise Poison(f"{exc.code}: {exc.message}") from None
    if request.persist and request.idempotency_key is None:
        key = message.source_id
        if len(key) > MAX_KEY:  # a long Kafka topic name: the key column holds 200 characters
            key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        request = msgspec.structs.replace(request, idempotency_key=key)
    return request


@dataclass
class Health:
    up: bool = False
    problem: str = "starting"
    since: float = field(default_factory=time.time)

    def set(self, up: bool, problem: str = "") -> None:
        if up != self.up or problem != self.problem:
            self.up, self.problem, self.since = up, problem, time.time()


class Consumer:
    """Runs one source: fetch, publish in key order, dead-letter poison, ack after commit, report lag."""

    def __init__(self, source: Source, publisher: Publisher, dead_letters: DeadLetters, metrics: Metrics,
                 options: Options) -> None:
        self.source = source
        self.name = source.name
        self.producer = f"consume:{source.name}"  # the idempotency keys' namespace
        self.publisher = publisher
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.options = options
        self.health = Health()
        self.paused: str = ""  # why messages in hand wait (a database outage), or ""
        self.last_lag: Lag | None = None
        self.lag_history: deque[tuple[float, Lag]] = deque(maxlen=LAG_HISTORY)
        self._tasks: list[asyncio.Task[None]] = []
        self._lanes = asyncio.Semaphore(options.concurrency)
        self._in_hand: set[Message] = set()

    async def start(self) -> None:
        self.metrics.consume_up.labels(self.name).set(0)
        self._tasks = [asyncio.create_task(self._run(), name=f"herald-consume-{self.name}"),
                       asyncio.create_task(self._report_lag(), name=f"herald-consume-lag-{self.name}")]

    async def stop(self) -> None:
        await cancel(self._tasks)
        try:
            await self.source.close()
        except Exception:  # noqa: BLE001 - closing a dead connection; what was in hand comes again
            log.warning("closing the %s source failed", self.name, exc_info=True)

    def _down(self, what: str, exc: BaseException) -> None:
        if self.health.up or self.health.problem == "starting":
            log.warning("%s source %s: %s", self.name, what, exc)
        self.health.set(False, f"{what}: {exc}"[:300] or what)
        self.metrics.consume_up.labels(self.name).set(0)
        self.metrics.consume_errors.labels(self.name, "source").inc()

    def _up(self) -> None:
        if not self.health.up:
            log.info("%s source connected", self.name)
        self.health.set(True)
        self.metrics.consume_up.labels(self.name).set(1)

    async def _run(self) -> None:
        backoff = Backoff(self.options.retry_base_seconds, self.options.retry_max_seconds)
        opened = False
        while True:
            try:
                if not opened:
                    await self.source.open()
                    opened = True
                batch = await self.source.fetch(self.options.batch_size, self.options.poll_seconds)
            except Exception as exc:  # noqa: BLE001 - the log is down or refused us: keep serving, retry later
                self._down("unreachable" if opened else "cannot open", exc)
                opened = False  # open again: it reconnects what broke (a LISTEN connection, a group lost)
                await backoff.sleep()
                continue
            self._up()
            backoff.reset()
            if batch:
                await self.handle(batch)

    async def handle(self, batch: list[Message]) -> None:
        """Publish a batch completely before the next is taken; only a failed ack gives messages back."""
        pending = batch
        self._in_hand = set(batch)
        keeper = asyncio.create_task(self._keep_holding()) if self.source.hold_every_seconds else None
        try:
            await self._handle(pending)
        finally:
            await cancel([keeper])
            self._in_hand = set()

    async def _keep_holding(self) -> None:
        """A batch slower than the source's redelivery time (a slow database) must not be handed out again."""
        assert self.source.hold_every_seconds is not None
        while True:
            await asyncio.sleep(self.source.hold_every_seconds)
            if self._in_hand:
                try:
                    await self.source.hold(list(self._in_hand))
                except Exception:  # noqa: BLE001 - at worst redelivered, and answered by the idempotency key
                    log.debug("holding %s messages failed", self.name, exc_info=True)

    async def _handle(self, pending: list[Message]) -> None:
        backoff = Backoff(self.options.retry_base_seconds, self.options.retry_max_seconds)
        while pending:
            done, pending, wait = await self._publish_lanes(pending)
            try:
                if done:
                    await self.source.ack(done)
                    self._in_hand.difference_update(done)
                if pending:
                    await self.source.hold(pending)
            except Exception as exc:  # noqa: BLE001 - they come again; their keys stop a second notification
                self._down("acknowledging failed", exc)
                await self._abandon(list(self._in_hand))  # the done ones whose ack failed come again too
                self.paused = ""
                await backoff.sleep()
                return
            if pending:
                await backoff.sleep(at_least=wait)
        self.paused = ""

    async def _abandon(self, messages: list[Message]) -> None:
        try:
            await self.source.abandon(messages)
        except Exception:  # noqa: BLE001 - the source redelivers on its own (ack wait, idle claim, rollback)
            log.debug("giving messages back to %s failed", self.name, exc_info=True)

    async def _publish_lanes(self, batch: list[Message]) -> tuple[list[Message], list[Message], float]:
        lanes: dict[str, list[Message]] = {}
        for message in batch:
            lanes.setdefault(message.key, []).append(message)
        stopped: dict[str, int] = {}  # key -> index of its first message left for a retry
        waits: list[float] = [0.0]

        async def lane(key: str, messages: list[Message]) -> None:
            async with self._lanes:
                for index, message in enumerate(messages):
                    retry = await self._one(message)
                    if retry is not None:
                        stopped[key] = index
                        waits.append(retry.wait_seconds)
                        return

        await asyncio.gather(*(lane(key, messages) for key, messages in lanes.items()))
        left = {id(m) for key, index in stopped.items() for m in lanes[key][index:]}
        done = [m for m in batch if id(m) not in left]
        return done, [m for m in batch if id(m) in left], max(waits)

    async def _one(self, message: Message) -> Retry | None:
        """Publish one message, or dead-letter it; a ``Retry`` when it must wait (it stays unacknowledged)."""
        message.attempts += 1
        try:
            request = parse(message)
            await self.publisher.publish(request, self.producer)
        except Poison as exc:
            return await self._dead_letter(message, str(exc))
        except Exception as exc:  # noqa: BLE001 - every failure is either a retry or a dead letter, never lost
            verdict = classify(exc)
            if isinstance(verdict, Poison):
                return await self._dead_letter(message, str(verdict))
            if verdict is None:
                log.warning("%s message %s failed (attempt %d): %r", self.name, message.source_id,
                            message.attempts, exc)
                if message.attempts >= self.options.max_attempts:
                    return await self._dead_letter(message, f"gave up after {message.attempts} attempts: {exc!r}")
                verdict = Retry("unexpected", repr(exc))
            return self._retry(message, verdict)
        self.metrics.consume_messages.labels(self.name, "published").inc()
        return None

    def _retry(self, message: Message, retry: Retry) -> Retry:
        if self.paused != retry.reason:
            log.warning("%s consumer paused (%s): %s; messages stay unacknowledged", self.name, retry.reason, retry)
        self.paused = retry.reason
        self.metrics.consume_errors.labels(self.name, retry.reason).inc()
        return retry

    async def _dead_letter(self, message: Message, error: str) -> Retry | None:
        try:
            await self.dead_letters.add(self.name, message, error)
        except Exception as exc:  # noqa: BLE001 - without its dead letter a message must not be acked
            return self._retry(message, classify(exc) or Retry("database", repr(exc)))
        log.warning("%s message %s dead-lettered: %s", self.name, message.source_id, error)
        self.metrics.consume_messages.labels(self.name, "dead_lettered").inc()
        return None

    async def _report_lag(self) -> None:
        while True:
            try:
                lag = await self.source.lag()
            except Exception as exc:  # noqa: BLE001 - lag is a reading; the fetch loop reports the source down
                log.debug("%s lag unavailable: %s", self.name, exc)
            else:
                self.last_lag = lag
                self.lag_history.append((time.time(), lag))
                self.metrics.consume_lag.labels(self.name).set(lag.messages)
                self.metrics.consume_oldest_age.labels(self.name).set(lag.oldest_age_seconds if lag.messages else 0)
            await asyncio.sleep(self.options.lag_interval_seconds)


class Backoff:
    """Exponential backoff with full jitter, from ``base_seconds`` up to ``max_seconds``."""

    def __init__(self, base_seconds: float, max_seconds: float) -> None:
        self.base, self.max = base_seconds, max_seconds
        self.attempt = 0

    def reset(self) -> None:
        self.attempt = 0

    async def sleep(self, at_least: float = 0.0) -> None:
        ceiling = min(self.max, self.base * 2 ** min(self.attempt, 30))
        self.attempt += 1
        await asyncio.sleep(max(at_least, random.uniform(ceiling / 2, ceiling)))
