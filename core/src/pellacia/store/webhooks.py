"""Webhook endpoints and their messages (the outbox fanned out per endpoint)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

#: events re-read behind the cursor, so one committed after a later id is not missed
LOOKBACK = 200


async def add(
    conn: Any, *, hook_id: uuid.UUID, url: str, secret: str, events: Sequence[str]
) -> None:
    await conn.execute(
        "INSERT INTO webhooks (id, url, secret, events) VALUES ($1, $2, $3, $4)",
        hook_id,
        url,
        secret,
        list(events),
    )


async def secrets(conn: Any, *, for_update: bool = False) -> list[tuple[uuid.UUID, str]]:
    """(id, stored secret) of every endpoint (sealed, or plain from before sealing)."""
    lock = " FOR UPDATE" if for_update else ""
    rows = await conn.fetch("SELECT id, secret FROM webhooks ORDER BY created_at" + lock)
    return [(r["id"], r["secret"]) for r in rows]


async def set_secret(conn: Any, hook_id: uuid.UUID, secret: str) -> None:
    await conn.execute("UPDATE webhooks SET secret = $2 WHERE id = $1", hook_id, secret)


async def all_hooks(conn: Any) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT w.id, w.url, w.events, w.created_at, w.failing_since, w.disabled_at,"
        " w.disabled_reason, (SELECT count(*) FROM webhook_messages m WHERE m.webhook_id = w.id"
        "  AND m.delivered_at IS NULL AND m.expired_at IS NULL) AS backlog"
        " FROM webhooks w ORDER BY w.created_at"
    )
    return [dict(r) for r in rows]


async def get(conn: Any, hook_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM webhooks WHERE id = $1", hook_id)
    return dict(row) if row else None


async def remove(conn: Any, hook_id: uuid.UUID) -> bool:
    return str(await conn.execute("DELETE FROM webhooks WHERE id = $1", hook_id)) != "DELETE 0"


async def new_events(conn: Any, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Events from a window behind the cursor onwards, and the cursor (locked until commit)."""
    cursor: int = await conn.fetchval(
        "SELECT last_event_id FROM webhook_cursor WHERE id = 1 FOR UPDATE"
    )
    rows = await conn.fetch(
        "SELECT id, kind, post_id, delivery_id, payload, created_at FROM events"
        " WHERE id > $1 ORDER BY id LIMIT $2",
        max(0, cursor - LOOKBACK),
        limit,
    )
    return [dict(r) for r in rows], cursor


async def live_hooks(conn: Any) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, url, secret, events, created_at FROM webhooks WHERE disabled_at IS NULL"
        " ORDER BY created_at"
    )
    return [dict(r) for r in rows]


async def enqueue(
    conn: Any, rows: Sequence[tuple[uuid.UUID, int, str, str]], now: datetime
) -> None:
    """(webhook, event, type, ordering key) rows, due ``now``; ones already there are kept."""
    await conn.executemany(
        "INSERT INTO webhook_messages (webhook_id, event_id, type, ordering_key, next_at,"
        " created_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING",
        [(*row, now) for row in rows],
    )


async def try_lock(conn: Any) -> bool:
    """One dispatcher at a time, across processes (serve and workers both run one)."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock(hashtext('pellacia-webhooks'))"))


async def unlock(conn: Any) -> None:
    await conn.execute("SELECT pg_advisory_unlock(hashtext('pellacia-webhooks'))")


async def advance(conn: Any, last_event_id: int) -> None:
    await conn.execute(
        "UPDATE webhook_cursor SET last_event_id = greatest(last_event_id, $1) WHERE id = 1",
        last_event_id,
    )


async def due_heads(conn: Any, now: datetime, limit: int) -> list[dict[str, Any]]:
    """The oldest open message of each (webhook, ordering key), when it is due: later
    messages of the same delivery wait behind it, so each delivery's stay in order."""
    rows = await conn.fetch(
        """
        SELECT h.*, w.url, w.secret, e.payload, e.post_id, e.delivery_id, e.created_at AS at
        FROM (
            SELECT DISTINCT ON (m.webhook_id, m.ordering_key) m.*
            FROM webhook_messages m
            WHERE m.delivered_at IS NULL AND m.expired_at IS NULL
            ORDER BY m.webhook_id, m.ordering_key, m.event_id
        ) h
        JOIN webhooks w ON w.id = h.webhook_id AND w.disabled_at IS NULL
        JOIN events e ON e.id = h.event_id
        WHERE h.next_at <= $1
        ORDER BY h.event_id
        LIMIT $2
        """,
        now,
        limit,
    )
    return [dict(r) for r in rows]


async def delivered(
    conn: Any, hook_id: uuid.UUID, event_id: int, status: int, at: datetime
) -> None:
    await conn.execute(
        "UPDATE webhook_messages SET delivered_at = $3, last_status = $4, attempts = attempts + 1,"
        " last_error = NULL WHERE webhook_id = $1 AND event_id = $2",
        hook_id,
        event_id,
        at,
        status,
    )
    await conn.execute("UPDATE webhooks SET failing_since = NULL WHERE id = $1", hook_id)


async def failed(
    conn: Any,
    hook_id: uuid.UUID,
    event_id: int,
    *,
    status: int | None,
    error: str,
    next_at: datetime | None,
    now: datetime,
) -> datetime:
    """Record a failed send (``next_at`` None: give the message up); returns since when
    the endpoint has been failing."""
    await conn.execute(
        "UPDATE webhook_messages SET attempts = attempts + 1, last_status = $3, last_error = $4,"
        " next_at = coalesce($5, next_at), expired_at = CASE WHEN $5::timestamptz IS NULL"
        " THEN $6::timestamptz END WHERE webhook_id = $1 AND event_id = $2",
        hook_id,
        event_id,
        status,
        error,
        next_at,
        now,
    )
    since: datetime = await conn.fetchval(
        "UPDATE webhooks SET failing_since = coalesce(failing_since, $2) WHERE id = $1"
        " RETURNING failing_since",
        hook_id,
        now,
    )
    return since


async def disable(conn: Any, hook_id: uuid.UUID, reason: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE webhooks SET disabled_at = $3, disabled_reason = $2 WHERE id = $1",
        hook_id,
        reason,
        at,
    )


async def backlog(conn: Any) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM webhook_messages WHERE delivered_at IS NULL AND expired_at IS NULL"
    )
    return count
