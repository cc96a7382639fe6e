"""SQL for posts: intake (post + deliveries in one transaction), lookups, cancel."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class NewDelivery:
    id: uuid.UUID
    platform: str
    account: str
    idempotency_key: str
    priority: int
    due_at: datetime
    layer_index: int = 0


@dataclass(frozen=True)
class NewPost:
    id: uuid.UUID
    video_path: str
    video_sha256: str
    video_size: int
    media: Mapping[str, Any]
    title: str
    description: str
    hashtags: Sequence[str]
    overrides: Mapping[str, Any]
    priority: str
    scheduled_at: datetime | None
    timezone: str | None
    is_test: bool


async def insert(conn: Any, post: NewPost, deliveries: Sequence[NewDelivery]) -> None:
    """Insert a post and its deliveries (caller's txn); a trigger writes their first events."""
    await conn.execute(
        """
        INSERT INTO posts (id, video_path, video_sha256, video_size, media, title, description,
                           hashtags, overrides, priority, scheduled_at, timezone, is_test)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        """,
        post.id,
        post.video_path,
        post.video_sha256,
        post.video_size,
        dict(post.media),
        post.title,
        post.description,
        list(post.hashtags),
        dict(post.overrides),
        post.priority,
        post.scheduled_at,
        post.timezone,
        post.is_test,
    )
    for d in deliveries:
        await conn.execute(
            """
            INSERT INTO deliveries (id, post_id, platform, account, state, priority, due_at,
                                    idempotency_key, wait_reason, layer_index)
            VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9)
            """,
            d.id,
            post.id,
            d.platform,
            d.account,
            d.priority,
            d.due_at,
            d.idempotency_key,
            "scheduled" if post.scheduled_at is not None else None,
            d.layer_index,
        )


async def recent_duplicates(
    conn: Any, *, sha256: str, title: str, platforms: Sequence[str], since: datetime
) -> list[dict[str, Any]]:
    """Live deliveries of the same file and title on these platforms created since ``since``."""
    rows = await conn.fetch(
        """
        SELECT p.id AS post_id, d.platform, d.state, p.created_at
        FROM posts p JOIN deliveries d ON d.post_id = p.id
        WHERE p.video_sha256 = $1 AND p.title = $2 AND d.platform = ANY($3::text[])
          AND p.created_at >= $4 AND d.state NOT IN ('cancelled', 'failed')
        ORDER BY p.created_at DESC
        """,
        sha256,
        title,
        list(platforms),
        since,
    )
    return [dict(r) for r in rows]


async def get(conn: Any, post_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM posts WHERE id = $1", post_id)
    return dict(row) if row else None


async def find(conn: Any, prefix: str) -> list[uuid.UUID]:
    """Ids of up to two posts whose id starts with ``prefix`` (operators type short ids)."""
    rows = await conn.fetch(
        "SELECT id FROM posts WHERE id::text LIKE $1 || '%' LIMIT 2", prefix.lower()
    )
    return [r["id"] for r in rows]


async def lock_intake(conn: Any, sha256: str) -> None:
    """Serialise the intake of one file until the transaction ends, so two racing
    submissions of it cannot both pass the duplicate check."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", sha256)


async def counts(conn: Any) -> tuple[int, int]:
    """(posts, deliveries): used by tests and ``--json`` summaries."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM posts) AS p, (SELECT count(*) FROM deliveries) AS d"
    )
    return int(row["p"]), int(row["d"])


async def scheduled(conn: Any, *, include_done: bool = False) -> list[dict[str, Any]]:
    """Posts with their deliveries, soonest first (``schedule list``)."""
    rows = await conn.fetch(
        """
        SELECT p.id AS post_id, p.title, p.priority, p.scheduled_at, p.timezone, p.is_test,
               d.id AS delivery_id, d.platform, d.account, d.state, d.due_at, d.wait_reason,
               d.remote_url, d.last_error
        FROM posts p JOIN deliveries d ON d.post_id = p.id
        WHERE $1 OR d.state NOT IN ('published', 'failed', 'cancelled', 'manual')
        ORDER BY coalesce(p.scheduled_at, p.created_at), p.id, d.platform, d.account
        """,
        include_done,
    )
    return [dict(r) for r in rows]
