"""The audit's reads (``store.audit``) on a real database."""

from __future__ import annotations

import uuid

from pellacia.store import audit
from pellacia.store.pool import create_pool


async def test_audit_reads_counts_unfinished_titles_and_open_tries(pg_dsn: str) -> None:
    pool = await create_pool(pg_dsn)
    try:
        async with pool.acquire() as conn:
            post_id = uuid.uuid4()
            await conn.execute(
                "INSERT INTO posts (id, video_path, video_sha256, video_size, media, title) "
                "VALUES ($1, '/v.mp4', 'abc', 10, $2, 'audit title')",
                post_id,
                {"duration": 1.0},
            )
            waiting, cancelled = uuid.uuid4(), uuid.uuid4()
            for delivery_id, platform in ((waiting, "youtube"), (cancelled, "tiktok")):
                await conn.execute(
                    "INSERT INTO deliveries (id, post_id, platform, due_at, idempotency_key)"
                    " VALUES ($1, $2, $3, now(), $4)",
                    delivery_id,
                    post_id,
                    platform,
                    f"k-{platform}",
                )
            for delivery_id in (waiting, cancelled):  # one try each, neither closed
                await conn.execute(
                    "INSERT INTO delivery_attempts (delivery_id, attempt, layer, started_at)"
                    " VALUES ($1, 1, 'api', now())",
                    delivery_id,
                )
            await conn.execute("UPDATE deliveries SET state = 'cancelled' WHERE id = $1", cancelled)

            assert await audit.state_counts(conn) == {"pending": 1, "cancelled": 1}
            left = await audit.unfinished(conn, limit=5)
            assert [(r["platform"], r["state"]) for r in left] == [("youtube", "pending")]
            rows = await audit.deliveries_with_titles(conn)
            assert {(r["platform"], r["title"]) for r in rows} == {
                ("youtube", "audit title"),
                ("tiktok", "audit title"),
            }
            # only the final delivery's open try counts as left without an outcome
            assert await audit.attempt_totals(conn) == (1, 2)
    finally:
        await pool.close()
