"""SQL of the analytics collector: the plan per delivery, snapshots, reads.

* ``analytics_tracking``: one row per published delivery; ``next_at`` is when
  it is next due (NULL once past its cadence), ``removed_at`` set when the
  platform no longer has the post.
* ``post_analytics``: one snapshot per delivery per UTC day (the latest wins).
* ``account_analytics``: one account snapshot per (platform, account, day).

Metrics are stored as given: a metric the platform did not report is absent
from the JSON object, never 0.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

#: advisory-lock key of the collector's leader (any fixed 64-bit number)
LEADER_LOCK = 0x5E11AC1A_A7A1_7105


@dataclass(frozen=True)
class Tracked:
    """A published delivery due for a snapshot."""

    delivery_id: uuid.UUID
    post_id: uuid.UUID
    platform: str
    account: str
    remote_id: str
    remote_url: str | None
    published_at: datetime
    misses: int


async def try_lead(conn: Any) -> bool:
    """Take the collector's leader lock on ``conn`` (held until :func:`resign`)."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK))


async def resign(conn: Any) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", LEADER_LOCK)


async def track_new(conn: Any, now: datetime) -> int:
    """Start following every published delivery not followed yet (due at once)."""
    status: str = await conn.execute(
        """
        INSERT INTO analytics_tracking (delivery_id, next_at)
        SELECT d.id, $1::timestamptz FROM deliveries d
        WHERE d.state = 'published' AND d.remote_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM analytics_tracking t WHERE t.delivery_id = d.id)
        ON CONFLICT DO NOTHING
        """,
        now,
    )
    return int(status.split()[-1])


_TRACKED = """
    SELECT d.id AS delivery_id, d.post_id, d.platform, d.account, d.remote_id,
           d.remote_url, COALESCE(d.published_at, d.updated_at) AS published_at,
           COALESCE(t.misses, 0) AS misses
    FROM deliveries d LEFT JOIN analytics_tracking t ON t.delivery_id = d.id
"""


def _tracked(row: Mapping[str, Any]) -> Tracked:
    return Tracked(**{k: row[k] for k in Tracked.__dataclass_fields__})


async def due(conn: Any, now: datetime, platforms: Sequence[str]) -> list[Tracked]:
    """Deliveries due at ``now`` on ``platforms``, grouped by (platform, account)."""
    rows = await conn.fetch(
        _TRACKED
        + """
        WHERE t.next_at <= $1 AND t.removed_at IS NULL AND d.state = 'published'
          AND d.platform = ANY($2::text[])
        ORDER BY d.platform, d.account, t.next_at, d.id
        """,
        now,
        list(platforms),
    )
    return [_tracked(r) for r in rows]


async def published(
    conn: Any,
    *,
    platform: str,
    since: datetime | None = None,
    post_id: uuid.UUID | None = None,
) -> list[Tracked]:
    """Published deliveries of ``platform`` (since a time, or of one post), not removed."""
    rows = await conn.fetch(
        _TRACKED
        + """
        WHERE d.state = 'published' AND d.platform = $1 AND t.removed_at IS NULL
          AND ($2::timestamptz IS NULL OR COALESCE(d.published_at, d.updated_at) >= $2)
          AND ($3::uuid IS NULL OR d.post_id = $3)
        ORDER BY d.published_at, d.id
        """,
        platform,
        since,
        post_id,
    )
    return [_tracked(r) for r in rows]


@dataclass(frozen=True)
class Snapshot:
    """One post's figures to store, and when it is next due (None: never)."""

    delivery_id: uuid.UUID
    metrics: Mapping[str, float]
    raw: Mapping[str, Any]
    next_at: datetime | None


async def store_snapshots(conn: Any, snapshots: Sequence[Snapshot], *, at: datetime) -> None:
    """Upsert each post's snapshot of the day and plan its next one (in the
    caller's transaction: a batch is stored whole or not at all)."""
    await conn.executemany(
        """
        INSERT INTO post_analytics (delivery_id, day, fetched_at, metrics, raw)
        VALUES ($1, ($2::timestamptz AT TIME ZONE 'UTC')::date, $2, $3, $4)
        ON CONFLICT (delivery_id, day) DO UPDATE SET
            fetched_at = EXCLUDED.fetched_at, metrics = EXCLUDED.metrics, raw = EXCLUDED.raw
        """,
        [(s.delivery_id, at, dict(s.metrics), dict(s.raw)) for s in snapshots],
    )
    await conn.executemany(
        """
        INSERT INTO analytics_tracking (delivery_id, next_at, last_at, misses)
        VALUES ($1, $2, $3, 0)
        ON CONFLICT (delivery_id) DO UPDATE SET
            next_at = EXCLUDED.next_at, last_at = EXCLUDED.last_at, misses = 0
        """,
        [(s.delivery_id, s.next_at, at) for s in snapshots],
    )


async def store_snapshot(
    conn: Any,
    delivery_id: uuid.UUID,
    *,
    at: datetime,
    metrics: Mapping[str, float],
    raw: Mapping[str, Any],
    next_at: datetime | None,
) -> None:
    """One snapshot (see :func:`store_snapshots`)."""
    await store_snapshots(conn, [Snapshot(delivery_id, metrics, raw, next_at)], at=at)


async def record_miss(
    conn: Any, delivery_id: uuid.UUID, *, at: datetime, next_at: datetime | None, removed: bool
) -> None:
    """The platform left the post out of its answer: count it; ``removed`` ends it."""
    await conn.execute(
        """
        INSERT INTO analytics_tracking (delivery_id, next_at, misses, removed_at)
        VALUES ($1, $2, 1, CASE WHEN $3 THEN $4::timestamptz END)
        ON CONFLICT (delivery_id) DO UPDATE SET
            next_at = EXCLUDED.next_at,
            misses = analytics_tracking.misses + 1,
            removed_at = CASE WHEN $3 THEN $4::timestamptz END
        """,
        delivery_id,
        next_at,
        removed,
        at,
    )


async def account_done(conn: Any, platform: str, account: str, day: date) -> bool:
    """Whether (platform, account) has its snapshot of ``day`` already."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM account_analytics"
            " WHERE platform = $1 AND account = $2 AND day = $3)",
            platform,
            account,
            day,
        )
    )


async def store_account(
    conn: Any, platform: str, account: str, *, at: datetime, metrics: Mapping[str, float]
) -> None:
    await conn.execute(
        """
        INSERT INTO account_analytics (platform, account, day, fetched_at, metrics)
        VALUES ($1, $2, ($3::timestamptz AT TIME ZONE 'UTC')::date, $3, $4)
        ON CONFLICT (platform, account, day) DO UPDATE SET
            fetched_at = EXCLUDED.fetched_at, metrics = EXCLUDED.metrics
        """,
        platform,
        account,
        at,
        dict(metrics),
    )


async def accounts_with_posts(conn: Any, platforms: Sequence[str]) -> list[tuple[str, str]]:
    """(platform, account) pairs that have published something."""
    rows = await conn.fetch(
        "SELECT DISTINCT platform, account FROM deliveries"
        " WHERE state = 'published' AND platform = ANY($1::text[]) ORDER BY 1, 2",
        list(platforms),
    )
    return [(r["platform"], r["account"]) for r in rows]


async def snapshots(
    conn: Any, *, platform: str | None, start: date | None, end: date | None
) -> list[dict[str, Any]]:
    """Stored post snapshots (with the post's title), oldest day first."""
    rows = await conn.fetch(
        """
        SELECT a.delivery_id, d.post_id, d.platform, d.account, d.remote_id, d.remote_url,
               p.title, a.day, a.fetched_at, a.metrics, a.raw,
               t.removed_at IS NOT NULL AS removed
        FROM post_analytics a
        JOIN deliveries d ON d.id = a.delivery_id
        JOIN posts p ON p.id = d.post_id
        LEFT JOIN analytics_tracking t ON t.delivery_id = a.delivery_id
        WHERE ($1::text IS NULL OR d.platform = $1)
          AND ($2::date IS NULL OR a.day >= $2) AND ($3::date IS NULL OR a.day <= $3)
        ORDER BY a.day, d.platform, a.delivery_id
        """,
        platform,
        start,
        end,
    )
    return [dict(r) for r in rows]


async def account_snapshots(conn: Any, platform: str | None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT platform, account, day, fetched_at, metrics FROM account_analytics"
        " WHERE ($1::text IS NULL OR platform = $1) ORDER BY day, platform, account",
        platform,
    )
    return [dict(r) for r in rows]


async def post_exists(conn: Any, post_id: uuid.UUID) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM posts WHERE id = $1)", post_id))


async def insert_published(
    conn: Any,
    *,
    platform: str,
    account: str,
    remote_id: str,
    remote_url: str | None,
    published_at: datetime,
    title: str,
) -> uuid.UUID:
    """A post and its delivery, published outside the engine (tests, benchmarks,
    posts imported from elsewhere); the delivery's id."""
    post_id, delivery_id = uuid.uuid4(), uuid.uuid4()
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO posts (id, video_path, video_sha256, video_size, media, title)"
            " VALUES ($1, '', $2, 1, '{}'::jsonb, $3)",
            post_id,
            "0" * 64,
            title,
        )
        await conn.execute(
            "INSERT INTO deliveries (id, post_id, platform, account, state, due_at,"
            " idempotency_key, remote_id, remote_url, published_at, state_reason)"
            " VALUES ($1, $2, $3, $4, 'published', $5, $6, $7, $8, $5, 'imported')",
            delivery_id,
            post_id,
            platform,
            account,
            published_at,
            f"{post_id}:{platform}:{account}",
            remote_id,
            remote_url,
        )
    return delivery_id


# ------------------------------------------------------------- posting slots


async def stored_slots(
    conn: Any, targets: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], list[str]]:
    """Slots written by ``best-times --write`` for these (platform, account) pairs."""
    rows = await conn.fetch(
        "SELECT platform, account, slots FROM posting_slots"
        " WHERE (platform, account) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
        [p for p, _ in targets],
        [a for _, a in targets],
    )
    return {(r["platform"], r["account"]): list(r["slots"]) for r in rows}


async def write_slots(
    conn: Any, platform: str, account: str, slots: Sequence[str], source: str
) -> None:
    await conn.execute(
        """
        INSERT INTO posting_slots (platform, account, slots, source) VALUES ($1, $2, $3, $4)
        ON CONFLICT (platform, account) DO UPDATE SET
            slots = EXCLUDED.slots, source = EXCLUDED.source, updated_at = now()
        """,
        platform,
        account,
        list(slots),
        source,
    )


async def busy_times(
    conn: Any, targets: Sequence[tuple[str, str]], start: datetime, end: datetime
) -> list[tuple[str, str, datetime]]:
    """When each target account already posts (queued, in flight or published) in [start, end)."""
    rows = await conn.fetch(
        """
        SELECT d.platform, d.account, COALESCE(d.published_at, p.scheduled_at, d.due_at) AS at
        FROM deliveries d JOIN posts p ON p.id = d.post_id
        WHERE (d.platform, d.account) IN (SELECT * FROM unnest($1::text[], $2::text[]))
          AND d.state NOT IN ('failed', 'cancelled', 'manual')
          AND COALESCE(d.published_at, p.scheduled_at, d.due_at) >= $3
          AND COALESCE(d.published_at, p.scheduled_at, d.due_at) < $4
        """,
        [p for p, _ in targets],
        [a for _, a in targets],
        start,
        end,
    )
    return [(r["platform"], r["account"], r["at"]) for r in rows]


async def engagement_history(conn: Any, platform: str, account: str | None) -> list[dict[str, Any]]:
    """Each published delivery's latest metrics with its account and publish time."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT ON (a.delivery_id) d.account, d.published_at, a.metrics
        FROM post_analytics a JOIN deliveries d ON d.id = a.delivery_id
        WHERE d.platform = $1 AND ($2::text IS NULL OR d.account = $2)
          AND d.published_at IS NOT NULL
        ORDER BY a.delivery_id, a.day DESC
        """,
        platform,
        account,
    )
    return [dict(r) for r in rows]
