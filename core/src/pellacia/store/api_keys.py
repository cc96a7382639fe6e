"""API keys of the REST API and the idempotency keys of post creation.

Only a key's sha256 is stored: the key itself is shown once, at creation.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any


async def insert(
    conn: Any, *, key_id: uuid.UUID, name: str, prefix: str, key_hash: str, scopes: Sequence[str]
) -> None:
    await conn.execute(
        "INSERT INTO api_keys (id, name, prefix, key_hash, scopes) VALUES ($1, $2, $3, $4, $5)",
        key_id,
        name,
        prefix,
        key_hash,
        list(scopes),
    )


async def by_prefix(conn: Any, prefix: str) -> dict[str, Any] | None:
    """The live (not revoked) key with this prefix."""
    row = await conn.fetchrow(
        "SELECT id, name, key_hash, scopes FROM api_keys WHERE prefix = $1 AND revoked_at IS NULL",
        prefix,
    )
    return dict(row) if row else None


async def touch(conn: Any, key_id: uuid.UUID, at: datetime) -> None:
    """Record a use (at most once a minute per key, to spare the table)."""
    await conn.execute(
        "UPDATE api_keys SET last_used_at = $2 WHERE id = $1"
        " AND (last_used_at IS NULL OR last_used_at < $2::timestamptz - interval '1 minute')",
        key_id,
        at,
    )


async def all_keys(conn: Any) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, name, prefix, scopes, created_at, last_used_at, revoked_at FROM api_keys"
        " ORDER BY created_at"
    )
    return [dict(r) for r in rows]


async def revoke(conn: Any, ident: str) -> list[dict[str, Any]]:
    """Revoke the live keys whose name, prefix or id is ``ident``; returns them."""
    rows = await conn.fetch(
        "UPDATE api_keys SET revoked_at = now() WHERE revoked_at IS NULL"
        " AND (name = $1 OR prefix = $1 OR id::text = $1) RETURNING id, name, prefix",
        ident,
    )
    return [dict(r) for r in rows]


async def lock_idempotency(conn: Any, api_key_id: uuid.UUID, key: str) -> None:
    """Serialise requests with one idempotency key (until the transaction ends)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('idem:' || $1::text || ':' || $2))",
        str(api_key_id),
        key,
    )


async def idempotent_result(conn: Any, api_key_id: uuid.UUID, key: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT request_hash, response FROM api_idempotency WHERE api_key_id = $1 AND key = $2",
        api_key_id,
        key,
    )
    return dict(row) if row else None


async def remember(
    conn: Any,
    api_key_id: uuid.UUID,
    key: str,
    *,
    request_hash: str,
    post_id: uuid.UUID,
    response: dict[str, Any],
) -> None:
    await conn.execute(
        "INSERT INTO api_idempotency (api_key_id, key, request_hash, post_id, response)"
        " VALUES ($1, $2, $3, $4, $5)",
        api_key_id,
        key,
        request_hash,
        post_id,
        response,
    )
