"""The credentials vault: platform tokens encrypted at rest.

Tokens are sealed with AES-256-GCM (``cryptography``), bound to their
(platform, account) row as associated data so a ciphertext copied to another
row does not open. The key never enters the database: it comes from
``PELLACIA_SECRET_KEY`` or from a key file (``secret.key`` in the data
directory, created 0600 on first use). A key ring allows rotation: the first
key seals, every key opens; ``rotate`` re-seals every row under a new key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pellacia.atomic import DiskFull, is_disk_full
from pellacia.contract import TokenSet
from pellacia.errors import ConfigError, PellaciaError
from pellacia.store import credentials

KEY_FILE_NAME = "secret.key"
NONCE_BYTES = 12


class VaultError(PellaciaError):
    """A credential cannot be opened (wrong or missing key, tampered data)."""


@dataclass(frozen=True)
class Key:
    """One AES-256 key; ``repr`` shows only its id."""

    key_id: str
    material: bytes

    def __repr__(self) -> str:
        return f"Key(key_id={self.key_id!r})"

    @classmethod
    def from_material(cls, material: bytes) -> Key:
        if len(material) != 32:
            raise ConfigError("a vault key must be 32 bytes (base64: 44 characters)")
        return cls(hashlib.sha256(material).hexdigest()[:12], material)

    @classmethod
    def generate(cls) -> Key:
        return cls.from_material(secrets.token_bytes(32))

    def encoded(self) -> str:
        return base64.urlsafe_b64encode(self.material).decode()


def _decode_key(text: str) -> Key:
    try:
        material = base64.urlsafe_b64decode(text.strip().encode())
    except (ValueError, TypeError) as exc:
        raise ConfigError("a vault key is not valid base64") from exc
    return Key.from_material(material)


@dataclass(frozen=True)
class KeyRing:
    """The current key (first) and older keys still accepted for reading."""

    keys: tuple[Key, ...]
    source: str  # "env" or the key file's path, for messages

    @property
    def current(self) -> Key:
        return self.keys[0]

    def find(self, key_id: str) -> Key:
        for key in self.keys:
            if key.key_id == key_id:
                return key
        raise VaultError(
            f"credential sealed with key {key_id}, which is not in the key ring ({self.source}); "
            "restore that key or set the credential again"
        )


def load_keyring(data_dir: Path, env_value: str | None, *, create: bool = True) -> KeyRing:
    """Keys from ``PELLACIA_SECRET_KEY`` (comma-separated) or the key file."""
    if env_value:
        return KeyRing(tuple(_decode_key(part) for part in env_value.split(",")), "env")
    path = data_dir / KEY_FILE_NAME
    if not path.exists():
        if not create:
            raise ConfigError(f"no vault key: set PELLACIA_SECRET_KEY or create {path}")
        write_key_file(path, [Key.generate()])
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        raise ConfigError(f"{path} holds no key")
    return KeyRing(tuple(_decode_key(line) for line in lines), str(path))


def write_key_file(path: Path, keys: Sequence[Key]) -> None:
    """Write keys (current first) atomically to a 0600 file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("".join(f"{key.encoded()}\n" for key in keys))
            handle.flush()
            os.fsync(handle.fileno())  # the old file goes only once the new one is on disk
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)  # the old key file stays as it was
        if is_disk_full(exc):
            raise DiskFull(path.parent) from exc
        raise


def _aad(platform: str, account: str) -> bytes:
    return f"pellacia-dist:{platform}:{account}".encode()


def seal(key: Key, platform: str, account: str, tokens: TokenSet) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(NONCE_BYTES)
    plaintext = json.dumps(tokens.to_json()).encode()
    return nonce + AESGCM(key.material).encrypt(nonce, plaintext, _aad(platform, account))


def unseal(key: Key, platform: str, account: str, blob: bytes) -> TokenSet:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        plaintext = AESGCM(key.material).decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(platform, account)
        )
    except InvalidTag:
        raise VaultError(
            f"the stored credential of {platform}/{account} does not open with key "
            f"{key.key_id} (tampered, or sealed for another account)"
        ) from None
    return TokenSet.from_json(json.loads(plaintext))


@dataclass(frozen=True)
class CredentialInfo:
    """What may be shown about a stored credential (never a token)."""

    platform: str
    account: str
    key_id: str
    expires_at: datetime | None
    refresh_expires_at: datetime | None
    scopes: tuple[str, ...]
    updated_at: datetime
    #: what the account is bound to (e.g. a Facebook Page and its Instagram account)
    bound_to: str | None = None

    def status(self, now: datetime) -> str:
        """Token health in words: ``ok``, or what expired and what to do
        (``alerts.token_health.health``: also what dies soon)."""
        from pellacia.alerts.token_health import health

        return health(self, now).text

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "account": self.account,
            "key_id": self.key_id,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "refresh_expires_at": self.refresh_expires_at.isoformat()
            if self.refresh_expires_at
            else None,
            "scopes": list(self.scopes),
            "updated_at": self.updated_at.isoformat(),
            "bound_to": self.bound_to,
        }


class Vault:
    """Encrypted credentials in the ``credentials`` table."""

    def __init__(self, keyring: KeyRing) -> None:
        self.keyring = keyring

    def __repr__(self) -> str:
        return f"Vault(keys={[k.key_id for k in self.keyring.keys]})"

    async def put(self, conn: Any, platform: str, account: str, tokens: TokenSet) -> None:
        key = self.keyring.current
        await credentials.upsert(
            conn,
            platform,
            account,
            key_id=key.key_id,
            ciphertext=seal(key, platform, account, tokens),
            expires_at=tokens.expires_at,
            refresh_expires_at=tokens.refresh_expires_at,
            scopes=tokens.scopes,
        )

    async def get(
        self, conn: Any, platform: str, account: str, *, for_update: bool = False
    ) -> TokenSet | None:
        """The account's tokens, or None. ``for_update`` row-locks (inside a transaction)."""
        found = await credentials.sealed(conn, platform, account, for_update=for_update)
        if found is None:
            return None
        key_id, ciphertext = found
        return unseal(self.keyring.find(key_id), platform, account, ciphertext)

    async def list(self, conn: Any) -> list[CredentialInfo]:
        """What may be shown of every stored credential: dates, scopes, and what the
        account is bound to (a non-secret fact the platform's sign-in recorded)."""
        infos = []
        for r in await credentials.all_rows(conn):
            try:
                tokens = unseal(
                    self.keyring.find(r["key_id"]), r["platform"], r["account"], r["ciphertext"]
                )
                bound_to = tokens.extra.get("bound_to")
            except VaultError:  # sealed under a key this ring lacks: still listed
                bound_to = None
            infos.append(
                CredentialInfo(
                    r["platform"],
                    r["account"],
                    r["key_id"],
                    r["expires_at"],
                    r["refresh_expires_at"],
                    tuple(r["scopes"]),
                    r["updated_at"],
                    str(bound_to) if bound_to else None,
                )
            )
        return infos

    async def remove(self, conn: Any, platform: str, account: str) -> bool:
        return await credentials.delete(conn, platform, account)

    async def reseal_all(self, conn: Any, new_key: Key) -> int:
        """Re-encrypt every credential under ``new_key`` in one transaction."""
        async with conn.transaction():
            rows = await credentials.all_rows(conn, for_update=True)
            for row in rows:
                platform, account = row["platform"], row["account"]
                tokens = unseal(
                    self.keyring.find(row["key_id"]), platform, account, bytes(row["ciphertext"])
                )
                await credentials.reseal(
                    conn,
                    platform,
                    account,
                    new_key.key_id,
                    seal(new_key, platform, account, tokens),
                )
        return len(rows)


def open_vault(data_dir: Path, env_value: str | None) -> Vault:
    """The vault for these settings (creates the key file on first use)."""
    return Vault(load_keyring(data_dir, env_value))
