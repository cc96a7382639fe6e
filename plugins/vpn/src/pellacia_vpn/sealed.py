"""A tunnel route's username/password, sealed with the vault's key.

The credentials never go into the config file nor into the provider's file:
``vpn import`` seals them (AES-256-GCM, bound to the route name, with the
same key ring as the credentials vault: ``PELLACIA_SECRET_KEY`` or
``secret.key`` in the data directory) into ``<name>.auth`` next to the
imported file. Only the running tunnel gets them, in a 0600 file of the
route's private runtime directory, removed when the route goes down.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from pellacia.contract import TokenSet
from pellacia.errors import ConfigError

from pellacia_vpn.tunnel import Credentials

if TYPE_CHECKING:
    from pellacia.vault import Key

VAULT_PLATFORM = "vpn"


def seal_credentials(data_dir: Path, route: str, credentials: Credentials, path: Path) -> None:
    """Write ``path`` (0600): the credentials sealed under the vault's current key."""
    from pellacia.vault import load_keyring, seal

    key = load_keyring(data_dir, os.environ.get("PELLACIA_SECRET_KEY")).current
    tokens = TokenSet(access_token=credentials.password, extra={"username": credentials.username})
    blob = seal(key, VAULT_PLATFORM, route, tokens)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(key.key_id.encode() + b"\n" + blob)


def open_credentials(data_dir: Path, route: str, path: Path) -> Credentials:
    """The credentials sealed in ``path``; ``ConfigError`` saying why when they do not open.

    Sealed under a key a rotation retired (``vault rotate-key`` keeps those in
    ``secret.key.old-*``), they still open, and are sealed again under the
    current key at once: a rotation must not lose a route's password."""
    from pellacia.vault import VaultError, load_keyring, unseal

    try:
        key_id, blob = path.read_bytes().split(b"\n", 1)
        ring = load_keyring(data_dir, os.environ.get("PELLACIA_SECRET_KEY"), create=False)
        try:
            key, retired = ring.find(key_id.decode()), False
        except VaultError:
            found = [k for k in _retired_keys(data_dir) if k.key_id == key_id.decode()]
            if not found:
                raise
            key, retired = found[0], True
        tokens = unseal(key, VAULT_PLATFORM, route, blob)
    except (OSError, ValueError, VaultError) as exc:
        raise ConfigError(
            f"route vpn:{route}: its credentials ({path.name}) cannot be opened: {exc}; "
            f"import the route again with --username"
        ) from None
    credentials = Credentials(str(tokens.extra.get("username", "")), tokens.access_token)
    if retired:
        seal_credentials(data_dir, route, credentials, path)
    return credentials


def _retired_keys(data_dir: Path) -> list[Key]:
    """The keys rotations retired, from the files ``vault rotate-key`` kept them in."""
    from pellacia.vault import KEY_FILE_NAME, read_keys

    keys: list[Key] = []
    for kept in sorted(data_dir.glob(f"{KEY_FILE_NAME}.old-*")):
        try:
            keys.extend(read_keys(kept))
        except (OSError, ValueError, ConfigError):
            continue  # not a key file after all: the others may still hold the key
    return keys
