"""SQL behind ``queue status|clear|retry`` (and the REST API's queue views).

The status reads are built to stay cheap on a large queue: one index-only
pass for the counts (per account and state), per-account facts from the slot
table and the few breaking deliveries and blocks, and the waiting list as a
short walk of the dispatch index (``store.queue.waiting``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

# One pass over the (platform, account, state) index, index-only once vacuumed.
COUNTS = (
    "SELECT platform, account, state, count(*) AS n FROM deliveries"
    " GROUP BY platform, account, state"
)


async def counts(conn: Any) -> list[Any]:
    """Deliveries per (platform, account, state): ``platform, account, state, n``."""
    rows: list[Any] = await conn.fetch(COUNTS)
    return rows


async def slots(conn: Any) -> list[Any]:
    """Every account's spacing slot: ``platform, account, next_at, last_dispatch_at``."""
    rows: list[Any] = await conn.fetch(
        "SELECT platform, account, next_at, last_dispatch_at FROM account_slots"
        " ORDER BY platform, account"
    )
    return rows


async def breaking_paused(conn: Any, now: datetime) -> set[tuple[str, str]]:
    """Accounts whose normal dispatch breaking news pauses now (few rows)."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT platform, account FROM deliveries
        WHERE priority > 0 AND (state IN ('claimed', 'uploading', 'publishing')
            OR (state IN ('pending', 'ready', 'retry_wait', 'suspended')
                AND (due_at <= $1 OR state IN ('retry_wait', 'suspended'))))
        """,
        now,
    )
    return {(r["platform"], r["account"]) for r in rows}


async def blocks(conn: Any, now: datetime) -> list[Any]:
    """Announced blocks in force: ``platform, account`` ('*': all), ``until, reason``."""
    rows: list[Any] = await conn.fetch(
        "SELECT split_part(bucket, ':', 2) AS platform,"
        " substr(bucket, length(split_part(bucket, ':', 2)) + 8) AS account,"
        " blocked_until AS until, reason FROM rate_limits"
        " WHERE bucket LIKE 'block:%' AND blocked_until > $1",
        now,
    )
    return rows


async def budgets(conn: Any, now: datetime) -> list[Any]:
    """Quota buckets in use and blocks: ``bucket, used, window_end, blocked_until, reason``."""
    rows: list[Any] = await conn.fetch(
        "SELECT bucket, used, window_end, blocked_until, reason FROM rate_limits"
        " WHERE (window_end IS NOT NULL AND window_end > $1) OR blocked_until > $1"
        " OR used > 0 ORDER BY bucket",
        now,
    )
    return rows


async def clear(conn: Any, state: str) -> int:
    """Delete deliveries in ``state`` and the posts left without any delivery.

    Returns how many deliveries went. Each deletion writes its
    ``delivery.cleared`` event through the deliveries trigger.
    """
    async with conn.transaction():
        rows = await conn.fetch("DELETE FROM deliveries WHERE state = $1 RETURNING post_id", state)
        await conn.execute(
            "DELETE FROM posts p WHERE p.id = ANY($1::uuid[])"
            " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.post_id = p.id)",
            list({r["post_id"] for r in rows}),
        )
    return len(rows)


async def ids_starting_with(conn: Any, prefix: str, limit: int = 2) -> list[uuid.UUID]:
    """Delivery ids whose text starts with ``prefix`` (at most ``limit``)."""
    rows = await conn.fetch(
        "SELECT id FROM deliveries WHERE id::text LIKE $1 || '%' LIMIT $2", prefix, limit
    )
    return [r["id"] for r in rows]


async def retry(
    conn: Any, delivery_id: uuid.UUID, now: datetime, allowed: tuple[str, ...]
) -> str | None:
    """Put a delivery in one of the ``allowed`` states back in the queue, due now.

    Upload state and receipt are kept (the upload resumes), the fallback chain
    starts over, ``outcome_unknown`` stays. Returns the state it had (the row
    is changed only when that is in ``allowed``), ``None`` when there is no
    such delivery.
    """
    async with conn.transaction():
        state: str | None = await conn.fetchval(
            "SELECT state FROM deliveries WHERE id = $1 FOR UPDATE", delivery_id
        )
        if state in allowed:
            await conn.execute(
                "UPDATE deliveries SET state = 'ready', state_reason = 'retried by hand',"
                " due_at = $2, layer_index = 0, layer = NULL, wait_reason = NULL,"
                " wait_until = NULL, lease_owner = NULL, lease_until = NULL,"
                " updated_at = now() WHERE id = $1",
                delivery_id,
                now,
            )
    return state


__all__ = [
    "blocks",
    "breaking_paused",
    "budgets",
    "clear",
    "counts",
    "ids_starting_with",
    "retry",
    "slots",
]
