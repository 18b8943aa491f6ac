"""VAPID keys (RFC 8292): the P-256 key pair that signs every Web Push request.

Push services bind each browser subscription to the public key it was created
with, so the key must survive restarts: it is either configured
(``HERALD_VAPID_PRIVATE_KEY``) or generated once into the data directory.
Rotating it invalidates every existing subscription; ``herald vapid --rotate``
therefore also deletes them, and browsers subscribe again on their next visit.
"""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from herald.settings import Settings, SettingsError

KEY_FILE = "vapid_private_key.pem"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Strict base64url (padding optional); raises ``ValueError`` on anything else."""
    if not text.isascii() or any(ch in text for ch in "+/ \t\r\n"):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class VapidKeys:
    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_key(self) -> str:
        """The application server key browsers subscribe with: base64url of the 65-byte uncompressed point."""
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return b64url(raw)

    def signer(self) -> Vapid02:
        """What pywebpush signs with: its RFC 8292 ``vapid t=..., k=...`` scheme."""
        return Vapid02(self.private_key)

    def pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def parse_private_key(text: str) -> VapidKeys:
    """A PEM private key, or the base64url raw 32-byte scalar that most Web Push tools print."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            raw = b64url_decode(text)
            if len(raw) != 32:
                raise ValueError("a raw VAPID private key is 32 bytes")
            key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"HERALD_VAPID_PRIVATE_KEY is not a P-256 private key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SettingsError("HERALD_VAPID_PRIVATE_KEY must be a P-256 (prime256v1) key")
    return VapidKeys(key)


def key_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / KEY_FILE


def load_keys(settings: Settings) -> VapidKeys:
    """The configured key, else the one in the data directory, generated on first use."""
    if settings.vapid_private_key:
        return parse_private_key(settings.vapid_private_key)
    path = key_path(settings)
    if not path.exists():
        _write_new(path, exclusive=True)
    return parse_private_key(path.read_text())


def rotate_keys(settings: Settings) -> VapidKeys:
    """Replace the generated key. A configured key is the operator's to change, so this refuses."""
    if settings.vapid_private_key:
        raise SettingsError("the VAPID key comes from HERALD_VAPID_PRIVATE_KEY: change it there")
    path = key_path(settings)
    _write_new(path, exclusive=False)
    return parse_private_key(path.read_text())


def _write_new(path: Path, *, exclusive: bool) -> None:
    """Write a fresh key beside ``path`` and move it in whole, so no reader sees half a key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(VapidKeys(ec.generate_private_key(ec.SECP256R1())).pem())
    try:
        if exclusive:
            # Two processes starting together must agree on one key: the first link wins.
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass
        else:
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def vapid_command(settings: Settings, *, rotate: bool) -> int:
    """``herald vapid [--rotate]``: print the public key; rotating also forgets every subscription."""
    import asyncio
    import sys

    try:
        keys = rotate_keys(settings) if rotate else load_keys(settings)
    except SettingsError as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return 2
    if rotate:
        removed = asyncio.run(_forget_subscriptions(settings))
        print(f"New VAPID key pair written to {key_path(settings)}; {removed} push subscriptions deleted "
              "(they were bound to the old key). Restart Herald to sign with the new key.", file=sys.stderr)
    print(keys.public_key)
    return 0


async def _forget_subscriptions(settings: Settings) -> int:
    from sqlalchemy import delete, inspect

    from herald.db import Database
    from herald.models import push_subscriptions

    db = Database(settings.effective_database_url)
    try:
        async with db.write() as conn:
            if not await conn.run_sync(lambda sync: inspect(sync).has_table("push_subscriptions")):
                return 0  # never migrated: nothing was subscribed
            return (await conn.execute(delete(push_subscriptions))).rowcount or 0
    finally:
        await db.close()
