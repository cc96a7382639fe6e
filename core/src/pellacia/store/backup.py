"""Backups of pellacia-dist's schema with ``pg_dump``/``pg_restore`` (custom format).

``pg_dump`` reads one snapshot, so a backup taken while workers run is
consistent. The tools come from the PostgreSQL installation the embedded
cluster uses (``cluster.find_bin_dir``), else from PATH. A DSN's password
never reaches a command line or a message: it travels in ``PGPASSWORD`` and
is masked in whatever the tools print.

A restored database is older than the platforms: a delivery that was still
queued or in flight when the backup was taken may have been published since.
``after_restore`` flags every such delivery ``outcome_unknown`` so its next
claim asks the platform first (reconcile) instead of posting again.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from pellacia.errors import ConfigError
from pellacia.log import MASK, redact_text

Progress = Callable[[str], None]

#: tables whose presence says an archive is a pellacia-dist database
_OUR_TABLES = ("schema_migrations", "deliveries", "posts")
#: the states after which a delivery never goes to a platform again
_FINAL = ("published", "failed", "cancelled", "manual")
_IN_FLIGHT = ("claimed", "uploading", "publishing")
#: tables migrations fill themselves: rows there do not make a database "in use"
_BOOKKEEPING = ("schema_migrations", "delivery_transitions", "webhook_cursor")
_CREATED = re.compile(r"^;\s*Archive created at (.+)$")
_FROM = re.compile(r"^;\s*Dumped from database version: (.+)$")
_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE (?!DATA )(\S+) (\S+) ")
_SCHEMA = re.compile(r"^\d+; \d+ \d+ (SCHEMA|COMMENT) - (SCHEMA )?(\S+) ")
_TROUBLE = re.compile(r"error|warning|fatal", re.IGNORECASE)
_PROGRESS = re.compile(r'(?:dumping contents of|processing data for) table "?([^"\s]+)"?')


class BackupError(ConfigError):
    """A backup or restore could not be made; the message says why (never a password)."""


@dataclass(frozen=True)
class Target:
    """How ``pg_dump``/``pg_restore`` reach a database: a password-free DSN, and
    the password in the environment."""

    conninfo: str
    password: str | None = field(default=None, repr=False)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def scrub(self, text: str) -> str:
        """``text`` with the password (however it was spelled) masked."""
        if self.password:
            text = text.replace(self.password, MASK)
        return redact_text(text)


def target(dsn: str) -> Target:
    """Split a ``postgresql://`` DSN into a password-free DSN and its password."""
    parts = urlsplit(dsn)
    password = unquote(parts.password) if parts.password else None
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}@{hostport}" if user else hostport
    query = parse_qsl(parts.query, keep_blank_values=True)
    for key, value in query:
        if key == "password":
            password = value
    kept = urlencode([(k, v) for k, v in query if k != "password"], safe="/")
    return Target(urlunsplit(parts._replace(netloc=netloc, query=kept)), password)


def tool(name: str) -> str:
    """``pg_dump``/``pg_restore`` of the embedded cluster's installation, else PATH's."""
    from pellacia.store.cluster import ClusterError, find_bin_dir

    with contextlib.suppress(ClusterError):
        candidate = find_bin_dir() / name
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} not found: install the PostgreSQL client programs "
            "(Debian/Ubuntu: apt-get install postgresql-client)"
        )
    return found


# --------------------------------------------------------------------- archives


@dataclass(frozen=True)
class ArchiveInfo:
    """What ``pg_restore --list`` tells about a backup file."""

    created_at: datetime | None
    server_version: str | None
    schema: str
    tables: tuple[str, ...]
    #: the archive's table of contents (one entry a line), for ``pg_restore -L``
    toc: tuple[str, ...]


def inspect(path: Path) -> ArchiveInfo:
    """Read a backup's table of contents; ``BackupError`` when it is not one of ours."""
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    result = subprocess.run(
        [tool("pg_restore"), "--list", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "TZ": "UTC"},  # "Archive created at" in UTC, whatever the zone
    )
    if result.returncode != 0:
        raise BackupError(
            f"{path} is not a backup made by `pellacia-dist db backup` (pg_dump custom format): "
            f"{result.stderr.strip().splitlines()[-1] if result.stderr.strip() else 'unreadable'}"
        )
    created: datetime | None = None
    version: str | None = None
    tables: list[str] = []
    schemas: set[str] = set()
    for line in result.stdout.splitlines():
        if m := _CREATED.match(line):
            with contextlib.suppress(ValueError):
                created = datetime.strptime(m[1].strip(), "%Y-%m-%d %H:%M:%S %Z").replace(
                    tzinfo=UTC
                )
        elif m := _FROM.match(line):
            version = m[1].strip()
        elif m := _TABLE.match(line):
            schemas.add(m[1])
            tables.append(m[2])
    if not all(name in tables for name in _OUR_TABLES):
        raise BackupError(f"{path} is a PostgreSQL backup, but not of a pellacia-dist database")
    schema = "public" if "public" in schemas or not schemas else sorted(schemas)[0]
    return ArchiveInfo(
        created, version, schema, tuple(sorted(tables)), tuple(result.stdout.splitlines())
    )


def _stream(argv: list[str], db: Target, progress: Progress | None, **popen: Any) -> float:
    """Run a tool with ``--verbose``, telling ``progress`` each table it reaches;
    its seconds, or ``BackupError`` with what it said (password masked)."""
    started = time.monotonic()
    said: list[str] = []
    with subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=db.env(), **popen) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            line = db.scrub(line.rstrip())
            match = _PROGRESS.search(line)
            if match and progress is not None:
                progress(match[1].rpartition(".")[2])
            # continuation lines (DETAIL, Command was) and errors; not the verbose chatter
            if not line.startswith(("pg_dump: ", "pg_restore: ")) or _TROUBLE.search(line):
                said.append(line)
    if proc.returncode != 0:
        tool_name = Path(argv[0]).name
        detail = "\n".join(said[-8:]) or f"exit code {proc.returncode}"
        raise BackupError(f"{tool_name} failed: {detail}")
    return time.monotonic() - started


# ----------------------------------------------------------------------- backup


@dataclass(frozen=True)
class BackupResult:
    path: Path
    bytes: int
    seconds: float
    info: ArchiveInfo


def dump(
    dsn: str, dest: Path, *, schema: str, force: bool = False, progress: Progress | None = None
) -> BackupResult:
    """``pg_dump -Fc`` of ``schema`` into ``dest`` (0600), written under a temporary
    name and moved into place only when complete. Refuses an existing ``dest``
    unless ``force``."""
    dest = check_destination(dest, force=force)
    db = target(dsn)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
    tmp = Path(tmp_name)  # mkstemp: 0600, and only ours
    try:
        with os.fdopen(fd, "wb") as out:
            argv = [
                tool("pg_dump"),
                "--format=custom",
                "--verbose",
                f"--schema={_quoted(schema)}",
                "--lock-wait-timeout=60s",
                f"--dbname={db.conninfo}",
            ]
            seconds = _stream(argv, db, progress, stdout=out)
            out.flush()
            os.fsync(out.fileno())
        info = inspect(tmp)
        if force:
            os.replace(tmp, dest)
        else:
            try:
                os.link(tmp, dest)  # fails if someone created dest meanwhile
            except FileExistsError:
                raise BackupError(f"{dest} exists; pass --force to replace it") from None
            tmp.unlink()
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return BackupResult(dest, dest.stat().st_size, seconds, info)


def check_destination(dest: Path, *, force: bool) -> Path:
    """``dest`` made absolute; ``BackupError`` when a backup cannot go there."""
    dest = dest.expanduser().absolute()
    if dest.is_dir():
        raise BackupError(f"{dest} is a directory; name the backup file")
    if dest.exists() and not force:
        raise BackupError(f"{dest} exists; pass --force to replace it")
    if not dest.parent.is_dir():
        raise BackupError(f"{dest.parent}: no such directory")
    return dest


def _quoted(identifier: str) -> str:
    """A schema name as an exact ``pg_dump --schema`` pattern (no wildcards)."""
    return '"' + identifier.replace('"', '""') + '"'


# ---------------------------------------------------------------------- restore


@contextlib.contextmanager
def _restore_list(info: ArchiveInfo, existing_schemas: set[str]) -> Iterator[Path]:
    """The archive's table of contents minus the schemas the target already has
    (``CREATE SCHEMA public`` would fail, and only its owner may comment on it)."""
    kept = []
    for line in info.toc:
        m = _SCHEMA.match(line)
        if m and m[3] in existing_schemas:
            continue
        kept.append(line)
    fd, name = tempfile.mkstemp(suffix=".list")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(kept) + "\n")
        yield Path(name)
    finally:
        os.unlink(name)


def restore(
    dsn: str,
    path: Path,
    info: ArchiveInfo,
    *,
    existing_schemas: set[str],
    progress: Progress | None = None,
) -> float:
    """``pg_restore`` ``path`` into the (empty) database in one transaction: all
    of it or nothing. Owners and grants are not restored (the target's user owns
    everything). Returns the seconds it took."""
    db = target(dsn)
    with _restore_list(info, existing_schemas) as listing:
        argv = [
            tool("pg_restore"),
            "--verbose",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            f"--use-list={listing}",
            f"--dbname={db.conninfo}",
            str(path),
        ]
        return _stream(argv, db, progress, stdout=subprocess.DEVNULL)


# --------------------------------------------------------------------- SQL side


async def current_schema(conn: Any) -> str:
    """The schema our tables live in (the connection's first search_path entry)."""
    schema: str = await conn.fetchval("SELECT current_schema()")
    return schema


async def schemas(conn: Any) -> set[str]:
    """Every schema of the database."""
    return {r["nspname"] for r in await conn.fetch("SELECT nspname FROM pg_namespace")}


async def contents(conn: Any, schema: str) -> tuple[list[str], list[str]]:
    """``(tables, tables holding data)`` of ``schema``; rows migrations write
    themselves (bookkeeping) do not count as data."""
    tables = [
        r["tablename"]
        for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename", schema
        )
    ]
    used = []
    for table in tables:
        if table in _BOOKKEEPING:
            continue
        ident = f'"{schema}"."{table}"'.replace("\x00", "")
        if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {ident})"):
            used.append(table)
    return tables, used


async def other_sessions(conn: Any) -> list[str]:
    """Other clients connected to this database (application names, or ``?``)."""
    rows = await conn.fetch(
        "SELECT coalesce(nullif(application_name, ''), '?') AS app FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'"
    )
    return [str(r["app"]) for r in rows]


async def clear_schema(conn: Any, schema: str) -> None:
    """Drop every table, view, sequence, function and type of ``schema`` (the
    schema itself stays: it may not be ours to drop)."""
    ident = schema.replace('"', '""')
    async with conn.transaction():
        for kind, query in (
            (
                "VIEW",
                "SELECT viewname AS name FROM pg_views WHERE schemaname = $1",
            ),
            (
                "TABLE",
                "SELECT tablename AS name FROM pg_tables WHERE schemaname = $1",
            ),
            (
                "SEQUENCE",
                "SELECT sequencename AS name FROM pg_sequences WHERE schemaname = $1",
            ),
        ):
            for row in await conn.fetch(query, schema):
                name = str(row["name"]).replace('"', '""')
                await conn.execute(f'DROP {kind} IF EXISTS "{ident}"."{name}" CASCADE')
        for row in await conn.fetch(
            "SELECT p.oid::regprocedure::text AS sig FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1",
            schema,
        ):
            await conn.execute(f"DROP ROUTINE IF EXISTS {row['sig']} CASCADE")
        for row in await conn.fetch(
            "SELECT t.typname AS name FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = $1 AND t.typtype IN ('e', 'd', 'c') AND NOT EXISTS "
            "(SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)",
            schema,
        ):
            name = str(row["name"]).replace('"', '""')
            await conn.execute(f'DROP TYPE IF EXISTS "{ident}"."{name}" CASCADE')


async def after_restore(conn: Any, taken_at: datetime | None) -> int:
    """Make a restored queue safe to run: every delivery that had not ended when
    the backup was taken may have been published since, so it is flagged
    ``outcome_unknown`` (its next claim reconciles with the platform before any
    upload or publish); leases of the workers the backup saw are ended so the
    first sweep recovers their deliveries; event ids jump past any issued before.
    Returns how many deliveries were flagged."""
    async with conn.transaction():
        flagged: int = await conn.fetchval(
            """
            WITH changed AS (
                UPDATE deliveries SET outcome_unknown = true, updated_at = now()
                WHERE state <> ALL($1::text[]) RETURNING 1)
            SELECT count(*) FROM changed
            """,
            list(_FINAL),
        )
        await conn.execute(
            "UPDATE deliveries SET lease_until = LEAST(lease_until, now()) "
            "WHERE state = ANY($1::text[]) AND lease_until IS NOT NULL",
            list(_IN_FLIGHT),
        )
        # Webhook receivers already saw the ids of events written after the backup
        # (``webhook-id: evt_<id>``): new events start past any id issued before, so
        # no new event reuses one (ids are epoch milliseconds at most).
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('events', 'id'), GREATEST("
            "(SELECT coalesce(max(id), 0) FROM events) + 1, "
            "(extract(epoch FROM clock_timestamp()) * 1000)::bigint))"
        )
        from pellacia.store import events

        await events.record(
            conn,
            "db.restored",
            payload={
                "backup_taken_at": taken_at.isoformat() if taken_at else None,
                "flagged": flagged,
            },
        )
    return flagged


async def summary(conn: Any) -> dict[str, Any]:
    """What a restored database holds: posts, deliveries per state, credentials by key."""
    states = {
        str(r["state"]): int(r["n"])
        for r in await conn.fetch("SELECT state, count(*) AS n FROM deliveries GROUP BY state")
    }
    keys = {
        str(r["key_id"]): int(r["n"])
        for r in await conn.fetch("SELECT key_id, count(*) AS n FROM credentials GROUP BY key_id")
    }
    posts: int = await conn.fetchval("SELECT count(*) FROM posts")
    return {"posts": posts, "deliveries": states, "credential_keys": keys}
