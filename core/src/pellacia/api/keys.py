"""API keys: made, checked, listed and revoked (shared by the CLI and the API).

A key reads ``pd_<prefix>_<secret>``. The prefix finds the row; only the
sha256 of the whole key is stored (the key carries 256 random bits, so a
fast hash is enough), and it is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pellacia.delivery.errors import BadInput, NotFound
from pellacia.store import api_keys as store

#: each scope includes the ones before it
SCOPES = ("read", "write", "admin")


@dataclass(frozen=True)
class ApiKey:
    """A verified key: who calls, and what it may do."""

    id: uuid.UUID
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        rank = SCOPES.index(scope)
        return any(SCOPES.index(s) >= rank for s in self.scopes)


def parse_scopes(raw: str | Iterable[str]) -> list[str]:
    """``"read,write"`` → ``["read", "write"]``; unknown scopes are refused."""
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    scopes = [p.strip().lower() for p in parts if p.strip()]
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise BadInput(f"scopes are {', '.join(SCOPES)}; got {', '.join(unknown) or 'none'}")
    return list(dict.fromkeys(scopes))


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create(conn: Any, name: str, scopes: str | Iterable[str]) -> tuple[str, str]:
    """Make a key; returns (the key, shown only now; its prefix)."""
    if not name.strip():
        raise BadInput("an API key needs a --name")
    wanted = parse_scopes(scopes)
    prefix = secrets.token_hex(4)
    key = f"pd_{prefix}_{secrets.token_urlsafe(32)}"
    await store.insert(
        conn,
        key_id=uuid.uuid4(),
        name=name.strip(),
        prefix=prefix,
        key_hash=_digest(key),
        scopes=wanted,
    )
    return key, prefix


async def verify(conn: Any, presented: str, now: datetime) -> ApiKey | None:
    """The live key ``presented`` is, or None; records the use."""
    parts = presented.split("_")
    if len(parts) < 3 or parts[0] != "pd":
        return None
    row = await store.by_prefix(conn, parts[1])
    if row is None or not hmac.compare_digest(row["key_hash"], _digest(presented)):
        return None
    await store.touch(conn, row["id"], now)
    return ApiKey(row["id"], row["name"], frozenset(row["scopes"]))


async def listing(conn: Any) -> list[dict[str, Any]]:
    """Every key, never its secret: name, prefix, scopes, created, last used, revoked."""
    return await store.all_keys(conn)


async def revoke(conn: Any, ident: str) -> list[dict[str, Any]]:
    """Revoke by name, prefix or id."""
    done = await store.revoke(conn, ident.strip())
    if not done:
        raise NotFound(f"no live API key named {ident!r} (or with that prefix or id)")
    return done
