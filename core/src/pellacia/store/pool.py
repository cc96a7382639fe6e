"""asyncpg pools, and the one way services get a database.

``connect(settings)`` uses ``DATABASE_URL`` when set, else the embedded
cluster (started on first use), and applies pending migrations.

Long-running processes (``worker``, ``serve``, ``watch``) outlive PostgreSQL
restarts: a pool connection that cannot be made raises
:class:`DatabaseUnavailable`, :func:`is_unavailable` tells such failures from
others, and :func:`database_health` says once per outage that the database
is gone and once that it is back, instead of one warning per retry.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pellacia.contract import MigrationSource
from pellacia.log import get_logger

if TYPE_CHECKING:
    import asyncpg

    from pellacia.config import Settings


async def _init_connection(conn: Any) -> None:
    # jsonb/json columns read and write as Python objects everywhere.
    for name in ("jsonb", "json"):
        await conn.set_type_codec(
            name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog", format="text"
        )


#: seconds to wait for a new connection (a server that does not answer is down)
CONNECT_TIMEOUT = 10.0
#: the longest pause between tries while the database is away (so it is seen back soon)
OUTAGE_RETRY_SECONDS = 2.0


class DatabaseUnavailable(ConnectionError):
    """PostgreSQL cannot be reached now (stopped, restarting, its socket gone)."""


async def _pool_connect(*args: Any, **kwargs: Any) -> asyncpg.Connection:
    """asyncpg's connect, with "cannot reach the server" told apart from the
    network errors of platform calls (both are ``OSError``)."""
    import asyncpg

    try:
        conn: asyncpg.Connection = await asyncpg.connect(*args, **kwargs)
    except (OSError, TimeoutError) as exc:
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {why}") from exc
    database_health().ok()  # after an outage, the first new connection says it is back
    return conn


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached now (as opposed to
    a bad query, a deadlock or a constraint): worth waiting out, not reporting."""
    import asyncpg

    if isinstance(exc, DatabaseUnavailable | asyncpg.PostgresConnectionError):
        return True
    if isinstance(exc, asyncpg.InsufficientResourcesError):
        return True  # 53xxx: its disk full, out of memory, too many connections
    if isinstance(exc, asyncpg.OperatorInterventionError):
        # 57P01-57P03: shut down by an operator, crashed, starting up; not 57014 (cancel)
        return not isinstance(exc, asyncpg.QueryCanceledError)
    if isinstance(exc, asyncpg.InternalClientError):
        # a connection whose server went away mid-query is left in a state it
        # cannot leave ("cannot switch to state ..."); connections are never shared
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        return "connection is closed" in str(exc)
    return False


class DatabaseHealth:
    """This process's view of its database: logs the start and the end of an
    outage once each, however many loops notice it."""

    def __init__(self) -> None:
        self._log = get_logger("pellacia.database")
        self.down_since: float | None = None
        self.reason: str | None = None
        self.failures = 0

    @property
    def ready(self) -> bool:
        """False from the first failure to reach the database until one succeeds."""
        return self.down_since is None

    def lost(self, exc: BaseException, *, where: str) -> None:
        """A database call failed with ``exc`` (for which :func:`is_unavailable`)."""
        self.failures += 1
        self.reason = str(exc) or type(exc).__name__
        if self.down_since is None:
            self.down_since = time.monotonic()
            self._log.warning(
                "database unavailable; waiting for it", error=self.reason, noticed_by=where
            )

    def ok(self) -> None:
        """A database call succeeded."""
        if self.down_since is None:
            return
        down = time.monotonic() - self.down_since
        self._log.info("database back", after_seconds=round(down, 1), failed_calls=self.failures)
        self.down_since, self.reason, self.failures = None, None, 0


@functools.cache
def database_health() -> DatabaseHealth:
    """The process's one :class:`DatabaseHealth` (its loops share one database)."""
    return DatabaseHealth()


async def create_pool(dsn: str, *, min_size: int = 0, max_size: int = 10) -> asyncpg.Pool:
    """An asyncpg pool with pellacia-dist's codecs.

    ``min_size`` is 0 by default: asyncpg keeps a non-zero floor with a
    reconnect loop of its own that logs a traceback per try while the
    database is down; connections are made on demand instead.
    """
    import asyncpg

    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        command_timeout=60,
        connect=_pool_connect,
        timeout=CONNECT_TIMEOUT,
    )
    assert pool is not None
    return pool


async def connect_one(dsn: str) -> asyncpg.Connection:
    """A single connection with pellacia-dist's codecs (LISTEN, scripts)."""
    conn = await _pool_connect(dsn, timeout=CONNECT_TIMEOUT)
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
    min_size: int = 0,
    max_size: int = 10,
) -> asyncpg.Pool:
    """A migrated pool for ``settings`` (embedded cluster when no DATABASE_URL)."""
    from pellacia.store.migrate import migrate

    dsn = await ensure_dsn(settings)
    pool = await create_pool(dsn, min_size=min_size, max_size=max_size)
    async with pool.acquire() as conn:
        await migrate(conn, plugin_migrations)
    return pool
