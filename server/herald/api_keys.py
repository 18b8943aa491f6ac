"""Producer API keys: who may publish. Keys from ``HERALD_API_KEYS``, and keys made in the admin console.

A producer is named everywhere (idempotency keys, notifications, logs) by its
key's ``fingerprint``, never by the key. Console keys are stored hashed,
shown once and revocable.

Keys are 256 random bits, so a plain SHA-256 is enough to store them (a slow
password hash protects guessable secrets; these are not guessable). The
publish path checks a key with one indexed read, remembered for
``CACHE_SECONDS``: a revoked key is refused by every process within that
time, and at once by the process that revoked it. ``last_used_at`` is written
at most once a minute per key, in the background, so publishing never waits
on it.
"""
from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Iterable, Sequence

from sqlalchemy import select

from herald.db import Database
from herald.models import api_keys
from herald.tokens import secret_digest
from herald.wire import new_id, now_ms

CACHE_SECONDS = 1.0
LAST_USED_EVERY_MS = 60_000
KEY_PREFIX = "hk_"
MAX_CACHED = 10_000


@dataclass(frozen=True)
class StoredKey:
    id: str
    name: str
    prefix: str
    created_by: str
    created_at: int
    last_used_at: int | None
    revoked_at: int | None
    revoked_by: str | None


def fingerprint(api_key: str) -> str:
    """A stable, non-secret name for a key: the start of its digest, so a stored key is found by prefix."""
    return secret_digest(api_key)[:16]


class KeyStore:
    def __init__(self, db: Database, environment_keys: Sequence[str] = ()) -> None:
        self.db = db
        self.environment_keys = tuple(environment_keys)
        self._cache: dict[str, tuple[float, str | None]] = {}  # key hash -> (checked at, key id or None)
        self._written: dict[str, int] = {}  # key id -> last_used_at we last wrote or queued
        self._pending: dict[str, int] = {}  # key id -> last_used_at to write

    async def create(self, name: str, created_by: str) -> tuple[str, StoredKey]:
        """A new key; the plain key is returned here and never again."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        row = StoredKey(new_id(), name, key[:10], created_by, now_ms(), None, None, None)
        async with self.db.write() as conn:
            await conn.execute(api_keys.insert().values(
                id=row.id, name=name, prefix=row.prefix, key_hash=secret_digest(key), created_by=created_by,
                created_at=row.created_at))
        return key, row

    async def list(self) -> list[StoredKey]:
        async with self.db.read() as conn:
            rows = await conn.execute(select(
                api_keys.c.id, api_keys.c.name, api_keys.c.prefix, api_keys.c.created_by, api_keys.c.created_at,
                api_keys.c.last_used_at, api_keys.c.revoked_at, api_keys.c.revoked_by,
            ).order_by(api_keys.c.revoked_at.is_not(None), api_keys.c.created_at.desc()))
            found = [StoredKey(*row) for row in rows]
        # Uses not yet written are still true: show them.
        return [_with_use(k, self._pending.get(k.id)) for k in found]

    async def get(self, key_id: str) -> StoredKey | None:
        return next((k for k in await self.list() if k.id == key_id), None)

    async def revoke(self, key_id: str, revoked_by: str) -> StoredKey | None:
        """Revoke a key; None if there is no such key or it was already revoked."""
        async with self.db.write() as conn:
            result = await conn.execute(api_keys.update().where(
                api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=now_ms(),
                                                                               revoked_by=revoked_by))
        self._cache.clear()
        return await self.get(key_id) if result.rowcount else None

    async def authenticate(self, key: str) -> str | None:
        """The producer's fingerprint if ``key`` is a live key (environment or console), else None."""
        encoded = key.encode()
        # Compare against every key so timing does not reveal which prefix matched.
        matched = False
        for candidate in self.environment_keys:
            matched |= hmac.compare_digest(encoded, candidate.encode())
        if matched or await self.verify(key) is not None:
            return fingerprint(key)
        return None

    async def names(self, producers: Iterable[str]) -> dict[str, str]:
        """Readable names for producer fingerprints: environment keys by position, console keys by name."""
        producers = list(producers)
        names = {fingerprint(key): f"environment key {i}" for i, key in enumerate(self.environment_keys, 1)}
        found = {p: names[p] for p in producers if p in names}
        unknown = [p for p in producers if p not in found and len(p) == 16]
        if unknown:
            async with self.db.read() as conn:
                for producer in unknown:
                    name = (await conn.execute(select(api_keys.c.name).where(
                        api_keys.c.key_hash.startswith(producer)))).scalar()
                    if name is not None:
                        found[producer] = f"key {name}"
        return found

    async def producers(self) -> dict[str, str]:
        """Every live key as its producer name (fingerprint) and a readable name, e.g. to attach webhooks to."""
        found = {fingerprint(key): f"HERALD_API_KEYS #{i}" for i, key in enumerate(self.environment_keys, 1)}
        async with self.db.read() as conn:
            rows = await conn.execute(select(api_keys.c.name, api_keys.c.key_hash).where(api_keys.c.revoked_at.is_(None))
                                      .order_by(api_keys.c.created_at))
            # A console key's fingerprint is the start of its stored hash (``fingerprint`` above).
            found.update({key_hash[:16]: f"key {name}" for name, key_hash in rows})
        return found

    async def verify(self, key: str) -> str | None:
        """The id of the live console key ``key`` is, or None."""
        if not key.startswith(KEY_PREFIX):
            return None
        hashed = secret_digest(key)
        now = time.monotonic()
        cached = self._cache.get(hashed)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            key_id = cached[1]
        else:
            async with self.db.read() as conn:
                key_id = (await conn.execute(select(api_keys.c.id).where(
                    api_keys.c.key_hash == hashed, api_keys.c.revoked_at.is_(None)))).scalar()
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[hashed] = (now, key_id)
        if key_id is not None:
            self._used(key_id)
        return key_id

    def _used(self, key_id: str) -> None:
        now = now_ms()
        if now - self._written.get(key_id, 0) >= LAST_USED_EVERY_MS:
            self._written[key_id] = now
            self._pending[key_id] = now

    async def flush(self) -> None:
        """Write the queued ``last_used_at`` values (called once a second by ``Services``)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        async with self.db.write() as conn:
            for key_id, used_at in pending.items():
                await conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(last_used_at=used_at))


def _with_use(key: StoredKey, used_at: int | None) -> StoredKey:
    if used_at is None or (key.last_used_at or 0) >= used_at:
        return key
    return StoredKey(key.id, key.name, key.prefix, key.created_by, key.created_at, used_at, key.revoked_at,
                     key.revoked_by)
