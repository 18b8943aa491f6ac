"""Signed, expiring tokens whose subject is the product's own user id.

Two kinds share one signing key and are told apart by audience, so a token of
one kind is refused where the other is expected: ``subscriber`` tokens are
minted for the product's backend (Bearer), ``session`` tokens live only in
the HttpOnly cookie that ``POST /api/session`` sets. PyJWT checks signature,
expiry and audience; we pin the algorithm so ``alg: none`` and key confusion
are impossible.

``secret_digest`` is what Herald stores instead of a high-entropy secret it
issued (API keys, admin session tokens).
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

import jwt

from herald.wire import NAME_RE

Kind = Literal["subscriber", "session"]
ISSUER = "herald"
ALGORITHM = "HS256"


class TokenError(ValueError):
    """The token is missing, malformed, forged, expired or of the wrong kind."""


@dataclass(frozen=True)
class Minted:
    token: str
    expires_at: int  # seconds since the epoch

    @property
    def expires_at_iso(self) -> str:
        return datetime.fromtimestamp(self.expires_at, timezone.utc).isoformat().replace("+00:00", "Z")


class TokenSigner:
    def __init__(self, secret: str) -> None:
        self._secret = secret

    def mint(self, user_id: str, ttl_seconds: int, kind: Kind = "subscriber") -> Minted:
        if not NAME_RE.match(user_id):
            raise TokenError("invalid user id")
        now = int(time.time())
        expires = now + ttl_seconds
        claims = {"sub": user_id, "iat": now, "exp": expires, "iss": ISSUER, "aud": f"herald:{kind}"}
        return Minted(jwt.encode(claims, self._secret, algorithm=ALGORITHM), expires)

    def verify(self, token: str, kind: Kind = "subscriber") -> str:
        """Return the user id the token speaks for, or raise ``TokenError``."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=f"herald:{kind}",
                issuer=ISSUER,
                options={"require": ["sub", "exp", "aud", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(str(exc)) from exc
        subject = claims.get("sub")
        if not isinstance(subject, str) or not NAME_RE.match(subject):
            raise TokenError("invalid subject")
        return subject


def secret_digest(secret: str) -> str:
    """SHA-256 hex of a high-entropy secret. A slow password hash protects guessable secrets; these are not."""
    return hashlib.sha256(secret.encode()).hexdigest()
