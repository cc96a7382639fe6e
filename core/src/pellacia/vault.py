"""The credentials vault: platform tokens encrypted at rest.

Tokens are sealed with AES-256-GCM (``cryptography``), bound to their
(platform, account) row as associated data so a ciphertext copied to another
row does not open. The key never enters the database: it comes from
``PELLACIA_SECRET_KEY`` or from a key file (``secret.key`` in the data
directory, created 0600 on first use). A key ring allows rotation: the first
key seals, every key opens; ``rotate`` re-seals every row under a new key.
``export_keys``/``import_keys`` carry the ring to a file kept apart from the
database backups, and onto a new machine.
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
        _create_key_file(path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    keys = read_keys(path)
    if not keys:
        raise ConfigError(f"{path} holds no key")
    return KeyRing(keys, str(path))


def read_keys(path: Path) -> tuple[Key, ...]:
    """The keys of a key file, current first (``#`` lines are comments)."""
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return tuple(_decode_key(line) for line in lines if not line.lstrip().startswith("#"))


def write_key_file(path: Path, keys: Sequence[Key]) -> None:
    """Write keys (current first) atomically to a 0600 file."""
    tmp = _written_aside(path, keys)
    os.replace(tmp, path)


def _create_key_file(path: Path) -> None:
    """Make the key file, unless another process made it first: then that one is
    the key (two processes starting at once must not each seal with their own)."""
    tmp = _written_aside(path, [Key.generate()])
    try:
        os.link(tmp, path)  # atomic, and fails when the file exists
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def _written_aside(path: Path, keys: Sequence[Key]) -> Path:
    """A complete new 0600 file beside ``path`` holding ``keys``, under a name of its own."""
    from pellacia.private_files import private_dir

    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("".join(f"{key.encoded()}\n" for key in keys))
            handle.flush()
            os.fsync(handle.fileno())  # the old file goes only once the new one is on disk
    except OSError as exc:
        tmp.unlink(missing_ok=True)  # the old key file stays as it was
        if is_disk_full(exc):
            raise DiskFull(path.parent) from exc
        raise
    return tmp


EXPORT_HEADER = (
    "# pellacia-dist vault key ring (current key first). It opens the credentials\n"
    "# of the database backups: keep it apart from them, readable by no one else.\n"
    "# On a new machine: pellacia-dist vault import-key <this file>\n"
)


def export_keys(ring: KeyRing, dest: Path, *, force: bool = False) -> Path:
    """Write ``ring`` to ``dest`` (created 0600, never over an existing file
    unless ``force``); the file is itself a valid ``secret.key``."""
    dest = dest.expanduser().absolute()
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(dest, flags, 0o600)
    except FileExistsError:
        raise ConfigError(f"{dest} exists; pass --force to replace it") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {dest}: {exc.strerror}") from None
    os.fchmod(fd, 0o600)  # a replaced file keeps no wider mode
    with os.fdopen(fd, "w") as handle:
        handle.write(EXPORT_HEADER + "".join(f"{key.encoded()}\n" for key in ring.keys))
    return dest


@dataclass(frozen=True)
class ImportResult:
    """What ``import_keys`` did (key ids only)."""

    current: str
    added: tuple[str, ...]
    kept: tuple[str, ...]


def import_keys(data_dir: Path, source: Path) -> ImportResult:
    """Put the keys of ``source`` (an export) first in this machine's key file.

    Keys already there stay after them, still opening what they sealed:
    importing never loses a key.
    """
    try:
        imported = read_keys(source.expanduser())
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc.strerror}") from None
    except (UnicodeDecodeError, ConfigError):
        raise ConfigError(f"{source} is not a key file (vault export-key writes one)") from None
    if not imported:
        raise ConfigError(f"{source} holds no key")
    path = data_dir / KEY_FILE_NAME
    existing = load_keyring(data_dir, None).keys if path.exists() else ()
    ids = {key.key_id for key in imported}
    kept = tuple(key for key in existing if key.key_id not in ids)
    before = {key.key_id for key in existing}
    write_key_file(path, [*imported, *kept])
    return ImportResult(
        current=imported[0].key_id,
        added=tuple(k.key_id for k in imported if k.key_id not in before),
        kept=tuple(k.key_id for k in kept),
    )


def new_key_file(dest: Path) -> Key:
    """A new random key written to ``dest`` (0600; never over an existing file)."""
    key = Key.generate()
    export_keys(KeyRing((key,), "new"), dest)
    return key


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


#: how a sealed text column value begins: ``sealed:<key id>:<base64 nonce+ciphertext>``
SEALED_PREFIX = "sealed:"


def seal_text(key: Key, purpose: str, text: str) -> str:
    """``text`` encrypted under ``key`` and bound to ``purpose`` (e.g. ``webhook:<id>``),
    as text for a database column: a secret the code must read back (a webhook's
    signing secret) is never stored in the clear."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(NONCE_BYTES)
    blob = nonce + AESGCM(key.material).encrypt(nonce, text.encode(), _purpose_aad(purpose))
    return f"{SEALED_PREFIX}{key.key_id}:{base64.urlsafe_b64encode(blob).decode()}"


def is_sealed(stored: str) -> bool:
    return stored.startswith(SEALED_PREFIX)


def unseal_text(ring: KeyRing, purpose: str, stored: str) -> str:
    """What :func:`seal_text` sealed; a value stored before sealing existed comes back as is."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not is_sealed(stored):
        return stored
    key_id, _, body = stored.removeprefix(SEALED_PREFIX).partition(":")
    key = ring.find(key_id)
    try:
        blob = base64.urlsafe_b64decode(body.encode())
        plain = AESGCM(key.material).decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], _purpose_aad(purpose)
        )
    except (InvalidTag, ValueError):
        raise VaultError(
            f"the sealed {purpose.split(':')[0]} secret does not open with key {key.key_id} "
            "(tampered, or sealed for another row)"
        ) from None
    return plain.decode()


def _purpose_aad(purpose: str) -> bytes:
    return f"pellacia-dist:sealed:{purpose}".encode()


def vault_for(settings: Any) -> Vault:
    """The vault of these settings: ``PELLACIA_SECRET_KEY`` or the data directory's key file."""
    env = settings.secret_key.get_secret_value() if settings.secret_key is not None else None
    return open_vault(settings.data_dir, env)


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


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


class Vault:
    """Encrypted credentials in the ``credentials`` table.

    With ``key_file``, the ring is read again whenever that file changes, so a
    long-running process follows a rotation made by another one (it never
    seals with a retired key, and opens rows re-sealed under the new one).
    """

    def __init__(self, keyring: KeyRing, *, key_file: Path | None = None) -> None:
        self.keyring = keyring
        self._key_file = key_file
        self._stamp = _stamp(key_file) if key_file is not None else None

    def _follow_key_file(self) -> None:
        if self._key_file is None:
            return
        stamp = _stamp(self._key_file)
        if stamp is not None and stamp != self._stamp:
            self.keyring = load_keyring(self._key_file.parent, None, create=False)
            self._stamp = stamp

    def __repr__(self) -> str:
        return f"Vault(keys={[k.key_id for k in self.keyring.keys]})"

    def ring(self) -> KeyRing:
        """The key ring now (read again if the key file changed since)."""
        self._follow_key_file()
        return self.keyring

    async def put(self, conn: Any, platform: str, account: str, tokens: TokenSet) -> None:
        self._follow_key_file()
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
        self._follow_key_file()
        found = await credentials.sealed(conn, platform, account, for_update=for_update)
        if found is None:
            return None
        key_id, ciphertext = found
        return unseal(self.keyring.find(key_id), platform, account, ciphertext)

    async def list(self, conn: Any) -> list[CredentialInfo]:
        """What may be shown of every stored credential: dates, scopes, and what the
        account is bound to (a non-secret fact the platform's sign-in recorded)."""
        self._follow_key_file()
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
        """Re-encrypt every credential (and every webhook's signing secret) under
        ``new_key`` in one transaction; returns how many credentials."""
        from pellacia.store import webhooks as webhook_store

        async with conn.transaction():
            for hook_id, stored in await webhook_store.secrets(conn, for_update=True):
                purpose = f"webhook:{hook_id}"
                plain = unseal_text(self.keyring, purpose, stored)
                await webhook_store.set_secret(conn, hook_id, seal_text(new_key, purpose, plain))
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
    key_file = None if env_value else data_dir / KEY_FILE_NAME
    return Vault(load_keyring(data_dir, env_value), key_file=key_file)


@dataclass(frozen=True)
class Rotation:
    """What ``rotate`` did (key ids and paths only)."""

    new_key_id: str
    old_key_ids: tuple[str, ...]
    resealed: int
    #: where the retired keys were saved (key file mode), for older backups
    old_keys_file: Path | None


async def rotate(conn: Any, data_dir: Path, env_value: str | None) -> Rotation:
    """Re-seal every stored credential under a new key, in one transaction.

    Key file: the old keys are first saved to ``secret.key.old-<id>`` (0600; the
    backups taken before need them), the new key is put first in the file (so a
    crash midway still opens every row), every row re-sealed, then the file
    holds the new key only. ``PELLACIA_SECRET_KEY``: it must already list the
    new key first and the old ones after it (``vault new-key`` writes one).
    """
    if env_value:
        ring = load_keyring(data_dir, env_value)
        if len(ring.keys) < 2:
            raise ConfigError(
                "PELLACIA_SECRET_KEY holds one key. Write a new one with "
                "`pellacia-dist vault new-key FILE`, set PELLACIA_SECRET_KEY to that key, "
                "a comma and the old key, then run rotate-key again"
            )
        count = await Vault(ring).reseal_all(conn, ring.current)
        return Rotation(ring.current.key_id, tuple(k.key_id for k in ring.keys[1:]), count, None)
    ring = load_keyring(data_dir, None, create=False)
    path = data_dir / KEY_FILE_NAME
    saved = export_keys(ring, data_dir / f"{KEY_FILE_NAME}.old-{ring.current.key_id}", force=True)
    new = Key.generate()
    both = KeyRing((new, *ring.keys), str(path))
    write_key_file(path, both.keys)
    count = await Vault(both).reseal_all(conn, new)
    write_key_file(path, [new])
    return Rotation(new.key_id, tuple(k.key_id for k in ring.keys), count, saved)
