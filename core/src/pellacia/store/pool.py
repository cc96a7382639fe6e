"""asyncpg pools, and the one way services get a database.

``connect(settings)`` uses ``DATABASE_URL`` when set, else the embedded
cluster (started on first use), and applies pending migrations.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pellacia.contract import MigrationSource

if TYPE_CHECKING:
    import asyncpg

    from pellacia.config import Settings


async def _init_connection(conn: Any) -> None:
    # jsonb/json columns read and write as Python objects everywhere.
    for name in ("jsonb", "json"):
        await conn.set_type_codec(
            name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog", format="text"
        )


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """An asyncpg pool with pellacia-dist's codecs."""
    import asyncpg

    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=60
    )
    assert pool is not None
    return pool


async def connect_one(dsn: str) -> asyncpg.Connection:
    """A single connection with pellacia-dist's codecs (LISTEN, scripts)."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    await _init_connection(conn)
    return conn


def resolve_dsn(settings: Settings, *, start: bool = True) -> str:
    """``DATABASE_URL``, or the embedded cluster's DSN (cluster started when ``start``).

    Blocking (it may run initdb/pg_ctl): async callers use ``ensure_dsn``.
    """
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    from pellacia.store.cluster import embedded_cluster

    cluster = embedded_cluster(settings.data_dir)
    if start:
        cluster.start()
    return cluster.dsn()


async def ensure_dsn(settings: Settings) -> str:
    """The DSN to use, with the embedded cluster running and its database created."""
    import asyncio

    dsn = await asyncio.to_thread(resolve_dsn, settings)
    if settings.database_url is None:
        from pellacia.store.cluster import DB_NAME, embedded_cluster

        conn = await connect_one(embedded_cluster(settings.data_dir).dsn("postgres"))
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DB_NAME):
                await conn.execute(f'CREATE DATABASE "{DB_NAME}"')
        finally:
            await conn.close()
    return dsn


async def connect(
    settings: Settings,
    plugin_migrations: Sequence[MigrationSource] = (),
    *,
    min_size: int = 1,
    max_size: int = 10,
) -> asyncpg.Pool:
    """A migrated pool for ``settings`` (embedded cluster when no DATABASE_URL)."""
    from pellacia.store.migrate import migrate

    dsn = await ensure_dsn(settings)
    pool = await create_pool(dsn, min_size=min_size, max_size=max_size)
    async with pool.acquire() as conn:
        await migrate(conn, plugin_migrations)
    return pool
