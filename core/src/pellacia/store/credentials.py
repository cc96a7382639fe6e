"""SQL of the ``credentials`` table: sealed tokens and their non-secret facts.

Only ciphertext enters these rows; ``pellacia.vault`` seals and opens it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any


async def upsert(
    conn: Any,
    platform: str,
    account: str,
    *,
    key_id: str,
    ciphertext: bytes,
    expires_at: datetime | None,
    refresh_expires_at: datetime | None,
    scopes: Sequence[str],
) -> None:
    """Store (or replace) one account's sealed tokens."""
    await conn.execute(
        """
        INSERT INTO credentials (platform, account, key_id, ciphertext, expires_at,
                                 refresh_expires_at, scopes, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, now())
        ON CONFLICT (platform, account) DO UPDATE SET
            key_id = EXCLUDED.key_id, ciphertext = EXCLUDED.ciphertext,
            expires_at = EXCLUDED.expires_at,
            refresh_expires_at = EXCLUDED.refresh_expires_at,
            scopes = EXCLUDED.scopes, updated_at = now()
        """,
        platform,
        account,
        key_id,
        ciphertext,
        expires_at,
        refresh_expires_at,
        list(scopes),
    )


async def sealed(
    conn: Any, platform: str, account: str, *, for_update: bool = False
) -> tuple[str, bytes] | None:
    """``(key_id, ciphertext)`` of one account, or None; ``for_update`` row-locks."""
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        "SELECT key_id, ciphertext FROM credentials WHERE platform=$1 AND account=$2" + lock,
        platform,
        account,
    )
    return None if row is None else (str(row["key_id"]), bytes(row["ciphertext"]))


async def all_rows(conn: Any, *, for_update: bool = False) -> list[dict[str, Any]]:
    """Every credential row (ciphertext included), by platform and account."""
    lock = " FOR UPDATE" if for_update else ""
    rows = await conn.fetch(
        "SELECT platform, account, key_id, ciphertext, expires_at, refresh_expires_at, scopes,"
        " updated_at FROM credentials ORDER BY platform, account" + lock
    )
    return [dict(r) for r in rows]


async def reseal(conn: Any, platform: str, account: str, key_id: str, ciphertext: bytes) -> None:
    """Replace one row's ciphertext (key rotation)."""
    await conn.execute(
        "UPDATE credentials SET key_id=$3, ciphertext=$4, updated_at=now() "
        "WHERE platform=$1 AND account=$2",
        platform,
        account,
        key_id,
        ciphertext,
    )


async def delete(conn: Any, platform: str, account: str) -> bool:
    """Forget one account's tokens; False when there were none."""
    result: str = await conn.execute(
        "DELETE FROM credentials WHERE platform=$1 AND account=$2", platform, account
    )
    return result.endswith(" 1")
