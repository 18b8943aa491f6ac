"""Admin accounts, their sessions, and the throttle that stands between a password form and a guesser.

Passwords are argon2id hashes (argon2-cffi's defaults, RFC 9106's second
recommended profile). Sessions are rows, not signed tokens, so that signing
out, or deleting an admin, ends them at once on every node; the cookie holds
a random value and the table only its SHA-256.

The throttle is in memory, so with ``--workers N`` a guesser gets N times the
attempts before the lockout: still exponential, and one function
(``LoginThrottle.check``) to swap when a shared rate limiter exists.
"""
from __future__ import annotations

import asyncio
import re
import secrets
import time
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select

from herald.db import Database
from herald.models import admin_sessions, admin_users
from herald.tokens import secret_digest
from herald.wire import now_ms

# At most 50 characters: "admin:<username>" is the producer identity, kept in 64-character columns.
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@\-]{0,49}$")
MIN_PASSWORD_LENGTH = 12
SESSION_SECONDS = 12 * 3600
"""Absolute lifetime of an admin session: a working day, then sign in again."""

_hasher = PasswordHasher()
# Verified when the username is unknown, so that timing does not tell which usernames exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AdminError(ValueError):
    """A username or password that cannot be accepted; the message is for the person typing it."""


def check_username(username: str) -> str:
    if not USERNAME_RE.match(username):
        raise AdminError("A username is 1-50 letters, digits, '.', '_', '@' or '-', starting with a letter or digit.")
    return username


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AdminError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > 1024:
        raise AdminError("A password may have at most 1024 characters.")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


class AdminAccounts:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, username: str, password: str, *, replace: bool = False) -> bool:
        """Create an admin (or, with ``replace``, set a new password and end their sessions); False if taken."""
        check_username(username)
        hashed = await asyncio.to_thread(hash_password, password)
        async with self.db.write() as conn:
            exists = (await conn.execute(select(admin_users.c.username)
                                         .where(admin_users.c.username == username))).first() is not None
            if exists and not replace:
                return False
            if exists:
                await conn.execute(admin_users.update().where(admin_users.c.username == username)
                                   .values(password_hash=hashed))
                await conn.execute(delete(admin_sessions).where(admin_sessions.c.username == username))
            else:
                await conn.execute(admin_users.insert().values(username=username, password_hash=hashed,
                                                                created_at=now_ms()))
        return True

    async def verify(self, username: str, password: str) -> bool:
        async with self.db.read() as conn:
            stored = (await conn.execute(select(admin_users.c.password_hash)
                                         .where(admin_users.c.username == username))).scalar()
        ok = await asyncio.to_thread(_verify, stored or _DUMMY_HASH, password)
        if ok and stored is not None and _hasher.check_needs_rehash(stored):
            hashed = await asyncio.to_thread(_hasher.hash, password)
            async with self.db.write() as conn:
                await conn.execute(admin_users.update().where(admin_users.c.username == username)
                                   .values(password_hash=hashed))
        return ok and stored is not None

    async def start_session(self, username: str) -> tuple[str, int]:
        """A new session: returns the cookie value and its expiry (ms). Expired rows are swept here."""
        token = secrets.token_urlsafe(32)
        now = now_ms()
        expires = now + SESSION_SECONDS * 1000
        async with self.db.write() as conn:
            await conn.execute(delete(admin_sessions).where(admin_sessions.c.expires_at < now))
            await conn.execute(admin_sessions.insert().values(token_hash=secret_digest(token), username=username,
                                                               created_at=now, expires_at=expires))
            await conn.execute(admin_users.update().where(admin_users.c.username == username)
                               .values(last_login_at=now))
        return token, expires

    async def session_user(self, token: str) -> str | None:
        async with self.db.read() as conn:
            return (await conn.execute(select(admin_sessions.c.username).where(
                admin_sessions.c.token_hash == secret_digest(token), admin_sessions.c.expires_at > now_ms()))).scalar()

    async def end_session(self, token: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(delete(admin_sessions).where(admin_sessions.c.token_hash == secret_digest(token)))


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    locked_until: float = 0.0


@dataclass
class LoginThrottle:
    """Exponential lockout per username and per client address after a few failed sign-ins.

    ``free`` failures are allowed; each one after that locks the key for
    ``base_seconds * 2**(extra failures)``, at most ``max_seconds``. A key is
    forgotten ``forget_seconds`` after its last failure. Success clears the
    username's count only: an address that knows one password may not reset
    its count for guessing others.
    """

    free_per_user: int = 5
    free_per_address: int = 20
    base_seconds: float = 30.0
    max_seconds: float = 900.0
    forget_seconds: float = 900.0
    max_keys: int = 10_000
    _keys: dict[str, _Failures] = field(default_factory=dict)

    def check(self, username: str, address: str) -> int | None:
        """Seconds to wait before another attempt, or None when one may be made now."""
        now = time.monotonic()
        waits = [entry.locked_until - now for entry in (self._keys.get(k) for k in self._names(username, address))
                 if entry is not None and entry.locked_until > now]
        return max(1, int(max(waits) + 0.999)) if waits else None

    def failed(self, username: str, address: str) -> None:
        now = time.monotonic()
        if len(self._keys) >= self.max_keys:
            self._sweep(now)
        for key, free in zip(self._names(username, address), (self.free_per_user, self.free_per_address)):
            entry = self._keys.get(key)
            if entry is None or now - entry.last > self.forget_seconds:
                entry = self._keys[key] = _Failures()
            entry.count += 1
            entry.last = now
            if entry.count >= free:
                entry.locked_until = now + min(self.max_seconds, self.base_seconds * 2 ** (entry.count - free))

    def succeeded(self, username: str) -> None:
        self._keys.pop("user:" + username.lower(), None)

    @staticmethod
    def _names(username: str, address: str) -> tuple[str, str]:
        return "user:" + username.lower(), "addr:" + address

    def _sweep(self, now: float) -> None:
        for key in [k for k, e in self._keys.items() if now - e.last > self.forget_seconds]:
            del self._keys[key]
        while len(self._keys) >= self.max_keys:  # a flood of fresh keys: drop the oldest
            del self._keys[min(self._keys, key=lambda k: self._keys[k].last)]
