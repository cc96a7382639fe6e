"""Read-only queries the REST API needs beyond the CLI's: paged post lists, readiness."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any


async def list_posts(
    conn: Any,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
    state: str | None = None,
    platform: str | None = None,
) -> list[dict[str, Any]]:
    """Posts newest first with their deliveries' states; keyset paging after ``after``
    (created_at, id) of the last post of the page before."""
    rows = await conn.fetch(
        """
        SELECT p.id, p.title, p.priority, p.scheduled_at, p.timezone, p.is_test, p.created_at,
               coalesce(jsonb_agg(jsonb_build_object(
                   'id', d.id, 'platform', d.platform, 'account', d.account, 'state', d.state,
                   'remote_url', d.remote_url) ORDER BY d.platform, d.account)
                   FILTER (WHERE d.id IS NOT NULL), '[]'::jsonb) AS deliveries
        FROM posts p LEFT JOIN deliveries d ON d.post_id = p.id
        WHERE ($1::timestamptz IS NULL OR (p.created_at, p.id) < ($1, $2::uuid))
          AND ($3::text IS NULL OR EXISTS (
                SELECT 1 FROM deliveries s WHERE s.post_id = p.id AND s.state = $3))
          AND ($4::text IS NULL OR EXISTS (
                SELECT 1 FROM deliveries s WHERE s.post_id = p.id AND s.platform = $4))
        GROUP BY p.id
        ORDER BY p.created_at DESC, p.id DESC
        LIMIT $5
        """,
        after[0] if after else None,
        after[1] if after else None,
        state,
        platform,
        limit,
    )
    return [dict(r) for r in rows]


async def ready(conn: Any) -> dict[str, Any]:
    """Facts /readyz reports: how many migrations are applied."""
    applied = await conn.fetchval("SELECT count(*) FROM schema_migrations")
    return {"migrations": int(applied)}


async def metrics(conn: Any) -> dict[str, list[dict[str, Any]]]:
    """What /metrics shows from the database, read at scrape time."""
    depth = await conn.fetch(
        "SELECT platform, state, count(*) AS n FROM deliveries GROUP BY 1, 2 ORDER BY 1, 2"
    )
    outcomes = await conn.fetch(
        "SELECT d.platform, coalesce(a.layer, '') AS layer, coalesce(a.outcome, 'running')"
        " AS outcome, count(*) AS n,"
        " coalesce(sum(extract(epoch FROM a.finished_at - a.started_at)), 0) AS seconds,"
        " coalesce(sum(a.bytes_sent), 0) AS bytes"
        " FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id"
        " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    )
    events = await conn.fetch("SELECT kind, count(*) AS total FROM events GROUP BY 1 ORDER BY 1")
    backlog = await conn.fetch(
        "SELECT w.url, count(m.event_id) AS n FROM webhooks w LEFT JOIN webhook_messages m"
        " ON m.webhook_id = w.id AND m.delivered_at IS NULL AND m.expired_at IS NULL"
        " GROUP BY w.id, w.url ORDER BY w.url"
    )
    return {
        "depth": [dict(r) for r in depth],
        "attempts": [dict(r) for r in outcomes],
        "events": [dict(r) for r in events],
        "webhooks": [dict(r) for r in backlog],
    }


async def events_after(conn: Any, after: int, limit: int) -> list[dict[str, Any]]:
    """Outbox events with an id above ``after``, oldest first (the SSE stream)."""
    rows = await conn.fetch(
        "SELECT id, kind, post_id, delivery_id, payload, created_at FROM events"
        " WHERE id > $1 ORDER BY id LIMIT $2",
        after,
        limit,
    )
    return [dict(r) for r in rows]


async def last_event_id(conn: Any) -> int:
    value: int = await conn.fetchval("SELECT coalesce(max(id), 0) FROM events")
    return value


async def route_outcomes(conn: Any, since: Any) -> dict[str, dict[str, int]]:
    """Attempts per route and outcome since ``since`` (how each route has been doing)."""
    rows = await conn.fetch(
        "SELECT route, coalesce(outcome, 'running') AS outcome, count(*) AS n"
        " FROM delivery_attempts WHERE route IS NOT NULL AND started_at >= $1"
        " GROUP BY 1, 2",
        since,
    )
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["route"], {})[r["outcome"]] = r["n"]
    return out
