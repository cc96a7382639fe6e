"""PostgreSQL fixtures: a private cluster per test session, a fresh migrated
database per test (cloned from a template, ~tens of milliseconds).

Set ``PELLACIA_TEST_DATABASE_URL`` to an existing server's admin DSN to use it
instead of a private cluster (the user must be allowed to create databases).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

TEMPLATE = "pellacia_template"


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def _admin(dsn: str, *statements: str) -> None:
    from pellacia.store.pool import connect_one

    conn = await connect_one(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _build_template(admin_dsn: str) -> None:
    from pellacia.store.migrate import migrate
    from pellacia.store.pool import connect_one

    await _admin(
        admin_dsn, f'DROP DATABASE IF EXISTS "{TEMPLATE}"', f'CREATE DATABASE "{TEMPLATE}"'
    )
    conn = await connect_one(_with_database(admin_dsn, TEMPLATE))
    try:
        await migrate(conn)
    finally:
        await conn.close()


_PREFIX = "pellacia-pg-"
_OWNER = "owner.pid"


def _reap_orphans() -> None:
    """Stop and delete clusters left by test sessions that were killed (their
    teardown never ran), so they do not pile up on a developer's machine."""
    from pellacia.store.cluster import EmbeddedCluster

    for base in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        try:
            pid = int((base / _OWNER).read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 0)
            continue  # its session is still running
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        cluster = EmbeddedCluster(base / "cluster")
        try:
            cluster.stop()
        except Exception:
            continue  # leave it for a person rather than delete a running one
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    """Admin DSN of a PostgreSQL server for this test session (started here)."""
    external = os.environ.get("PELLACIA_TEST_DATABASE_URL")
    if external:
        asyncio.run(_build_template(external))
        yield external
        return
    from pellacia.store.cluster import EmbeddedCluster

    # mkdtemp under the system temp dir: world-traversable, so a root-run
    # test session can hand the cluster directory to an unprivileged user.
    _reap_orphans()
    base = Path(tempfile.mkdtemp(prefix=_PREFIX))
    os.chmod(base, 0o755)
    (base / _OWNER).write_text(str(os.getpid()))
    cluster = EmbeddedCluster(base / "cluster", fast_unsafe=True)
    cluster.start()
    try:
        admin = cluster.dsn("postgres")
        asyncio.run(_build_template(admin))
        yield admin
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_dsn(pg_admin_dsn: str) -> Iterator[str]:
    """DSN of a fresh database with every core migration applied; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(pg_admin_dsn, f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"'))
    try:
        yield _with_database(pg_admin_dsn, name)
    finally:
        asyncio.run(_admin(pg_admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
