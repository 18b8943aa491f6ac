"""The APNs provider token: renewed within Apple's 20-60 minute window, and once per expiry reported."""
from __future__ import annotations

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from herald.push.apns import TOKEN_REFRESH_SECONDS, ProviderToken


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_token_is_an_es256_jwt_with_kid_and_team_id() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    token = ProviderToken(key, "KEY1234567", "TEAM123456").current()
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": "KEY1234567", "typ": "JWT"}
    claims = jwt.decode(token, key.public_key(), algorithms=["ES256"], options={"verify_iat": False})
    assert set(claims) == {"iss", "iat"} and claims["iss"] == "TEAM123456"


def test_the_token_is_kept_for_at_least_20_minutes_and_renewed_before_60() -> None:
    clock = Clock()
    tokens = ProviderToken(ec.generate_private_key(ec.SECP256R1()), "KEY1234567", "TEAM123456", clock)
    first = tokens.current()
    clock.now += 20 * 60
    assert tokens.current() == first  # renewing sooner earns TooManyProviderTokenUpdates
    clock.now += TOKEN_REFRESH_SECONDS - 20 * 60
    second = tokens.current()
    assert second != first and TOKEN_REFRESH_SECONDS < 60 * 60
    assert tokens.minted == 2


def test_an_expired_token_is_renewed_once_however_many_pushes_report_it() -> None:
    clock = Clock()
    tokens = ProviderToken(ec.generate_private_key(ec.SECP256R1()), "KEY1234567", "TEAM123456", clock)
    stale = tokens.current()
    clock.now += 1
    renewed = [tokens.renew(stale) for _ in range(5)]  # five pushes in flight got ExpiredProviderToken
    assert len(set(renewed)) == 1 and renewed[0] != stale and tokens.minted == 2
