"""The folder intake's ledger: each (folder, name, content) submitted once."""

from __future__ import annotations

import uuid
from typing import Any


async def state(conn: Any, folder: str, name: str, sha256: str) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT state FROM intake_items WHERE folder = $1 AND name = $2 AND sha256 = $3",
        folder,
        name,
        sha256,
    )
    return value


async def seen(conn: Any, folder: str, name: str, sha256: str) -> None:
    await conn.execute(
        "INSERT INTO intake_items (folder, name, sha256, state) VALUES ($1, $2, $3, 'seen')"
        " ON CONFLICT DO NOTHING",
        folder,
        name,
        sha256,
    )


async def submitted(conn: Any, folder: str, name: str, sha256: str, post_id: uuid.UUID) -> bool:
    """Mark the item submitted (in the post's transaction); False if it already was."""
    done = await conn.execute(
        "UPDATE intake_items SET state = 'submitted', post_id = $4, updated_at = now()"
        " WHERE folder = $1 AND name = $2 AND sha256 = $3 AND state = 'seen'",
        folder,
        name,
        sha256,
        post_id,
    )
    return str(done) != "UPDATE 0"


async def rejected(conn: Any, folder: str, name: str, sha256: str, error: str) -> None:
    await conn.execute(
        "UPDATE intake_items SET state = 'rejected', error = $4, updated_at = now()"
        " WHERE folder = $1 AND name = $2 AND sha256 = $3 AND state = 'seen'",
        folder,
        name,
        sha256,
        error,
    )
