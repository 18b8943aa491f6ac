"""Subscriber and session tokens: the fast check of Herald's own tokens refuses all that PyJWT refuses."""
from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from herald.tokens import ALGORITHM, ISSUER, TokenError, TokenSigner

SECRET = "s" * 48


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(claims: dict[str, object], secret: str = SECRET, headers: dict[str, object] | None = None) -> str:
    return jwt.encode(claims, secret, algorithm=ALGORITHM, headers=headers)


def claims(**changes: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {"sub": "alice", "iat": now, "exp": now + 60, "iss": ISSUER, "aud": "herald:subscriber"}
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


@pytest.fixture
def signer() -> TokenSigner:
    return TokenSigner(SECRET)


def test_a_minted_token_speaks_for_its_user_and_kind_only(signer: TokenSigner) -> None:
    token = signer.mint("alice", 60).token
    assert signer.verify(token) == "alice"
    with pytest.raises(TokenError):
        signer.verify(token, "session")
    assert signer.verify(signer.mint("bob", 60, "session").token, "session") == "bob"


@pytest.mark.parametrize("changes", [
    {"exp": int(time.time()) - 1},
    {"exp": int(time.time())},  # expiry is exclusive, as PyJWT has it
    {"iat": int(time.time()) + 3600},
    {"iss": "someone-else"},
    {"aud": "herald:session"},
    {"sub": "not a valid/user id"},
    {"sub": None},
    {"exp": None},
    {"aud": None},
    {"iss": None},
])
def test_tokens_in_the_own_format_are_refused_as_pyjwt_refuses_them(signer: TokenSigner, changes: dict[str, object]) -> None:
    with pytest.raises(TokenError):
        signer.verify(signed(claims(**changes)))


def test_a_forged_or_tampered_token_is_refused(signer: TokenSigner) -> None:
    token = signer.mint("alice", 60).token
    header, payload, signature = token.split(".")
    with pytest.raises(TokenError):
        signer.verify(signed(claims(), secret="another secret of enough length for hs256"))
    mallory = b64(json.dumps(claims(sub="mallory"), separators=(",", ":")).encode())
    with pytest.raises(TokenError):
        signer.verify(f"{header}.{mallory}.{signature}")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    with pytest.raises(TokenError):
        signer.verify(f"{header}.{payload}.{flipped}")
    for broken in (f"{header}.{payload}", f"{header}.{payload}.", f"{header}..{signature}", f"{token}.extra",
                   f"{header}.{payload}.{signature}!!", "", "not-a-token", f"{header}.é.{signature}"):
        with pytest.raises(TokenError):
            signer.verify(broken)


def test_alg_none_and_other_algorithms_are_refused(signer: TokenSigner) -> None:
    none_header = b64(b'{"alg":"none","typ":"JWT"}')
    unsigned = f"{none_header}.{b64(json.dumps(claims()).encode())}."
    with pytest.raises(TokenError):
        signer.verify(unsigned)
    with pytest.raises(TokenError):
        signer.verify(jwt.encode(claims(), SECRET + "x" * 16, algorithm="HS512"))


def test_tokens_in_another_format_are_judged_by_pyjwt(signer: TokenSigner) -> None:
    # An extra claim or header field is not the own format: PyJWT decides, and accepts these.
    assert signer.verify(signed(claims(jti="1"))) == "alice"
    assert signer.verify(signed(claims(), headers={"kid": "k1"})) == "alice"
    assert signer.verify(signed(claims(aud=["herald:subscriber"]))) == "alice"
    with pytest.raises(TokenError):
        signer.verify(signed(claims(nbf=int(time.time()) + 3600)))
    with pytest.raises(TokenError):
        signer.verify(signed(claims(jti="1", exp=int(time.time()) - 5)))


def test_a_padded_signature_is_left_to_pyjwt_which_accepts_it(signer: TokenSigner) -> None:
    assert signer.verify(signer.mint("alice", 60).token + "=") == "alice"


def test_minted_tokens_are_checked_without_pyjwt(signer: TokenSigner, monkeypatch: pytest.MonkeyPatch) -> None:
    token, expired = signer.mint("alice", 60).token, signed(claims(exp=int(time.time()) - 1))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("PyJWT's general path was taken")

    monkeypatch.setattr(jwt, "decode", refuse)
    assert signer.verify(token) == "alice"
    with pytest.raises(TokenError):
        signer.verify(expired)
