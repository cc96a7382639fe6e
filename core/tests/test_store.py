"""Migrations and schema on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from pellacia.contract import MigrationSource
from pellacia.store.migrate import MigrationError, migrate, status
from pellacia.store.pool import connect_one, create_pool


async def test_migrations_apply_from_empty_then_rerun_applies_nothing(pg_admin_dsn: str) -> None:
    name = f"empty_{uuid.uuid4().hex[:8]}"
    admin = await connect_one(pg_admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = pg_admin_dsn.replace("/postgres?", f"/{name}?")
    try:
        conn = await connect_one(dsn)
        try:
            before = await status(conn)
            assert before and all(s.applied_at is None for s in before)
            applied = await migrate(conn)
            assert applied[0] == "core/0001_initial"
            assert await migrate(conn) == []
            after = await status(conn)
            assert all(s.applied_at is not None for s in after)
            tables = {
                r["tablename"]
                for r in await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname='public'"
                )
            }
            assert {
                "posts",
                "deliveries",
                "delivery_attempts",
                "post_analytics",
                "credentials",
                "events",
                "rate_limits",
                "schema_migrations",
            } <= tables
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_concurrent_migrations_are_serialised(pg_admin_dsn: str) -> None:
    name = f"race_{uuid.uuid4().hex[:8]}"
    admin = await connect_one(pg_admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = pg_admin_dsn.replace("/postgres?", f"/{name}?")
    try:
        conns = [await connect_one(dsn) for _ in range(4)]
        results = await asyncio.gather(*(migrate(c) for c in conns))
        applied = [name for result in results for name in result]
        # every migration applied exactly once across the four runners
        assert len(applied) == len(set(applied)) and "core/0001_initial" in applied
        for c in conns:
            await c.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_changed_migration_is_refused(pg_dsn: str, tmp_path, monkeypatch) -> None:
    package = tmp_path / "extra_migrations_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "0001_widgets.sql").write_text("CREATE TABLE extra_widgets (id int);")
    monkeypatch.syspath_prepend(str(tmp_path))
    source = MigrationSource(owner="extra", package="extra_migrations_pkg")
    conn = await connect_one(pg_dsn)
    try:
        assert await migrate(conn, [source]) == ["extra/0001_widgets"]
        (package / "0001_widgets.sql").write_text("CREATE TABLE extra_widgets (id bigint);")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(conn, [source])
    finally:
        await conn.close()


async def _post(conn: asyncpg.Connection) -> uuid.UUID:
    post_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO posts (id, video_path, video_sha256, video_size, media, title) "
        "VALUES ($1, '/v.mp4', 'abc', 10, $2, 't')",
        post_id,
        {"duration": 1.0},
    )
    return post_id


async def test_schema_guards_invariants(pg_dsn: str) -> None:
    pool = await create_pool(pg_dsn)
    try:
        async with pool.acquire() as conn:
            post_id = await _post(conn)
            assert (await conn.fetchval("SELECT media FROM posts WHERE id=$1", post_id)) == {
                "duration": 1.0
            }
            delivery_id = uuid.uuid4()
            await conn.execute(
                "INSERT INTO deliveries (id, post_id, platform, due_at, idempotency_key) "
                "VALUES ($1, $2, 'youtube', now(), 'k1')",
                delivery_id,
                post_id,
            )
            # a delivery cannot be published without the remote id
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute(
                    "UPDATE deliveries SET state='published' WHERE id=$1", delivery_id
                )
            # one delivery per (post, platform, account)
            with pytest.raises(asyncpg.UniqueViolationError):
                await conn.execute(
                    "INSERT INTO deliveries (id, post_id, platform, due_at, idempotency_key) "
                    "VALUES ($1, $2, 'youtube', now(), 'k2')",
                    uuid.uuid4(),
                    post_id,
                )
            # one analytics snapshot per delivery per day
            insert = (
                "INSERT INTO post_analytics (delivery_id, day, metrics) "
                "VALUES ($1, DATE '2026-11-24', $2)"
            )
            await conn.execute(insert, delivery_id, {"views": 1})
            with pytest.raises(asyncpg.UniqueViolationError):
                await conn.execute(insert, delivery_id, {"views": 2})
    finally:
        await pool.close()
