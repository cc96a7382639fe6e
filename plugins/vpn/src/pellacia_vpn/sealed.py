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

from pellacia.contract import TokenSet
from pellacia.errors import ConfigError

from pellacia_vpn.tunnel import Credentials

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
    """The credentials sealed in ``path``; ``ConfigError`` saying why when they do not open."""
    from pellacia.vault import VaultError, load_keyring, unseal

    try:
        key_id, blob = path.read_bytes().split(b"\n", 1)
        ring = load_keyring(data_dir, os.environ.get("PELLACIA_SECRET_KEY"), create=False)
        tokens = unseal(ring.find(key_id.decode()), VAULT_PLATFORM, route, blob)
    except (OSError, ValueError, VaultError) as exc:
        raise ConfigError(
            f"route vpn:{route}: its credentials ({path.name}) cannot be opened: {exc}; "
            f"import the route again with --username"
        ) from None
    return Credentials(str(tokens.extra.get("username", "")), tokens.access_token)
