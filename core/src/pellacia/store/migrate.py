"""Numbered plain-SQL migrations, core's and plugins', applied once each.

Files are ``NNNN_name.sql`` inside a package (see ``MigrationSource``). They
run in order, each in its own transaction, under a PostgreSQL advisory lock so
that workers starting together never race; each is recorded with a checksum
in ``schema_migrations``. Running again applies nothing new.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from pellacia.contract import MigrationSource
from pellacia.store import states

CORE_MIGRATIONS = MigrationSource(owner="core", package="pellacia.store.migrations")
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x7065_6C6C  # "pell": one advisory lock for all migration runs

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    owner       text        NOT NULL,
    version     integer     NOT NULL,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner, version)
)
"""


class MigrationError(Exception):
    """A migration file is malformed, changed after being applied, or failed."""


@dataclass(frozen=True)
class Migration:
    owner: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class MigrationStatus:
    owner: str
    version: int
    name: str
    applied_at: datetime | None


def load_migrations(source: MigrationSource) -> list[Migration]:
    """The migrations of one source, in version order."""
    found: list[Migration] = []
    for entry in resources.files(source.package).iterdir():
        match = _FILE.match(entry.name)
        if not match:
            continue
        found.append(
            Migration(source.owner, int(match[1]), match[2], entry.read_text(encoding="utf-8"))
        )
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise MigrationError(f"{source.owner}: two migration files share a version number")
    return sorted(found, key=lambda m: m.version)


def all_sources(plugin_sources: Sequence[MigrationSource] = ()) -> list[MigrationSource]:
    """Core first, then plugins in name order (their tables may refer to core's)."""
    return [CORE_MIGRATIONS, *sorted(plugin_sources, key=lambda s: s.owner)]


async def migrate(conn: Any, plugin_sources: Sequence[MigrationSource] = ()) -> list[str]:
    """Apply every pending migration; return the names applied (``owner/NNNN_name``)."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(_BOOKKEEPING)
        rows = await conn.fetch("SELECT owner, version, checksum FROM schema_migrations")
        done = {(r["owner"], r["version"]): r["checksum"] for r in rows}
        for source in all_sources(plugin_sources):
            for migration in load_migrations(source):
                key = (migration.owner, migration.version)
                if key in done:
                    if done[key] != migration.checksum:
                        raise MigrationError(
                            f"{migration.owner}/{migration.version:04d}_{migration.name}.sql "
                            "changed after it was applied; add a new migration instead"
                        )
                    continue
                async with conn.transaction():
                    try:
                        await conn.execute(migration.sql)
                    except Exception as exc:
                        raise MigrationError(
                            f"{migration.owner}/{migration.version:04d}_{migration.name}.sql "
                            f"failed: {exc}"
                        ) from exc
                    await conn.execute(
                        "INSERT INTO schema_migrations (owner, version, name, checksum) "
                        "VALUES ($1, $2, $3, $4)",
                        migration.owner,
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
                applied_now.append(f"{migration.owner}/{migration.version:04d}_{migration.name}")
        # The state machine's table is declared in code; the database enforces
        # the copy made here, under the same lock, on every run.
        await states.sync(conn)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def status(
    conn: Any, plugin_sources: Sequence[MigrationSource] = ()
) -> list[MigrationStatus]:
    """Every known migration with when it was applied (None: pending)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    applied: dict[tuple[str, int], datetime] = {}
    if exists:
        for row in await conn.fetch("SELECT owner, version, applied_at FROM schema_migrations"):
            applied[(row["owner"], row["version"])] = row["applied_at"]
    return [
        MigrationStatus(m.owner, m.version, m.name, applied.get((m.owner, m.version)))
        for source in all_sources(plugin_sources)
        for m in load_migrations(source)
    ]
