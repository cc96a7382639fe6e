"""The events outbox: every delivery state change and alert, durably.

Rows feed webhooks and alert dispatch (``dispatched_at`` NULL = not sent yet).
Callers write events inside the transaction that makes the change, so an event
exists exactly when its change does.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any


async def record(
    conn: Any,
    kind: str,
    *,
    post_id: uuid.UUID | None = None,
    delivery_id: uuid.UUID | None = None,
    payload: Mapping[str, Any] | None = None,
) -> int:
    """Append one event; returns its id."""
    event_id: int = await conn.fetchval(
        "INSERT INTO events (kind, post_id, delivery_id, payload) VALUES ($1, $2, $3, $4) "
        "RETURNING id",
        kind,
        post_id,
        delivery_id,
        dict(payload or {}),
    )
    return event_id


async def for_delivery(conn: Any, delivery_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every event of one delivery, oldest first."""
    rows = await conn.fetch(
        "SELECT id, kind, payload, created_at FROM events WHERE delivery_id = $1 ORDER BY id",
        delivery_id,
    )
    return [dict(r) for r in rows]


async def pending(conn: Any, *, kind: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Events not dispatched yet, oldest first."""
    rows = await conn.fetch(
        "SELECT id, kind, post_id, delivery_id, payload, created_at FROM events "
        "WHERE dispatched_at IS NULL AND ($1::text IS NULL OR kind = $1) ORDER BY id LIMIT $2",
        kind,
        limit,
    )
    return [dict(r) for r in rows]


async def mark_dispatched(conn: Any, ids: list[int]) -> None:
    await conn.execute("UPDATE events SET dispatched_at = now() WHERE id = ANY($1::bigint[])", ids)


async def recent(conn: Any, limit: int = 50) -> list[dict[str, Any]]:
    """The newest events, newest first (dashboards)."""
    rows = await conn.fetch(
        "SELECT id, kind, delivery_id, payload, created_at FROM events ORDER BY id DESC LIMIT $1",
        limit,
    )
    return [dict(r) for r in rows]
