"""``pellacia-dist db``: the database (embedded cluster or DATABASE_URL)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from pellacia.cli.context import AppContext, console, emit_json, fail, json_option, pass_app


@click.group()
def db() -> None:
    """Manage the database.

    Without DATABASE_URL, pellacia-dist runs a private PostgreSQL cluster in its
    data directory (unix socket only), started on first use and kept running
    between commands; `db down` stops it. With DATABASE_URL set, that server is
    used as is (PostgreSQL >= 14).
    """


def _embedded(app: AppContext) -> Any:
    from pellacia.store.cluster import embedded_cluster

    if app.settings.database_url is not None:
        fail("DATABASE_URL is set: pellacia-dist uses that server and runs no cluster of its own")
    return embedded_cluster(app.settings.data_dir)


@db.command()
@pass_app
def up(app: AppContext) -> None:
    """Create (first time) and start the embedded PostgreSQL cluster."""
    from pellacia.store.cluster import ClusterError
    from pellacia.store.pool import ensure_dsn

    cluster = _embedded(app)
    was_running = cluster.is_running()
    try:
        asyncio.run(ensure_dsn(app.settings))
    except ClusterError as exc:
        fail(str(exc))
    state = "already running" if was_running else "started"
    click.echo(f"embedded PostgreSQL {cluster.server_version()} {state} in {cluster.directory}")


@db.command()
@pass_app
def down(app: AppContext) -> None:
    """Stop the embedded PostgreSQL cluster (data is kept)."""
    cluster = _embedded(app)
    click.echo("stopped" if cluster.stop() else "not running")


@db.command()
@click.option("--show-password", is_flag=True, help="Print DATABASE_URL's password too.")
@pass_app
def url(app: AppContext, show_password: bool) -> None:
    """Print the DSN to reach the database (e.g. for psql)."""
    from pellacia.log import redact_text
    from pellacia.store.pool import resolve_dsn

    dsn = resolve_dsn(app.settings)
    click.echo(dsn if show_password else redact_text(dsn))


@db.command()
@pass_app
def migrate(app: AppContext) -> None:
    """Apply pending migrations (core's and every plugin's)."""
    from pellacia.store import migrate as migrations
    from pellacia.store.pool import connect_one, ensure_dsn

    async def run() -> list[str]:
        conn = await connect_one(await ensure_dsn(app.settings))
        try:
            return await migrations.migrate(conn, app.registry.migrations)
        finally:
            await conn.close()

    applied = asyncio.run(run())
    for name in applied:
        click.echo(f"applied {name}")
    click.echo(f"{len(applied)} migration(s) applied; the database is up to date")


@db.command()
@json_option
@pass_app
def status(app: AppContext, as_json: bool) -> None:
    """Show which database is used, whether it runs, and its migrations."""
    from pellacia.log import redact_text
    from pellacia.store import migrate as migrations
    from pellacia.store.cluster import embedded_cluster
    from pellacia.store.pool import connect_one, ensure_dsn, resolve_dsn

    settings = app.settings
    external = settings.database_url is not None
    info: dict[str, Any] = {"kind": "external" if external else "embedded"}
    if not external:
        cluster = embedded_cluster(settings.data_dir)
        info.update(
            directory=str(cluster.directory),
            created=cluster.exists(),
            running=cluster.is_running(),
            server_version=cluster.server_version(),
        )
    info["dsn"] = redact_text(resolve_dsn(settings, start=False))

    async def read() -> list[Any]:
        conn = await connect_one(await ensure_dsn(settings))
        try:
            return await migrations.status(conn, app.registry.migrations)
        finally:
            await conn.close()

    reachable = external or info.get("running", False)
    rows = asyncio.run(read()) if reachable else []
    info["reachable"] = bool(reachable)
    info["migrations"] = [
        {
            "owner": m.owner,
            "version": m.version,
            "name": m.name,
            "applied_at": m.applied_at.isoformat() if m.applied_at else None,
        }
        for m in rows
    ]
    if as_json:
        emit_json(info)
        return
    out = console()
    out.print(f"database: {info['kind']} ({info['dsn']})")
    if not external:
        out.print(
            f"cluster: {'running' if info['running'] else 'stopped'}, PostgreSQL "
            f"{info['server_version'] or '-'} in {info['directory']}"
        )
        if not info["running"]:
            out.print("start it with: pellacia-dist db up")
    pending = [m for m in info["migrations"] if m["applied_at"] is None]
    if reachable:
        out.print(
            f"migrations: {len(rows) - len(pending)} applied, {len(pending)} pending"
            + (" (run: pellacia-dist db migrate)" if pending else "")
        )


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def _progress(as_json: bool, verb: str) -> Any:
    """A callback printing each table reached on stderr, for a person watching
    (not with --json, nor into a log: a timer's journal needs only the result)."""
    import sys

    if as_json or not sys.stderr.isatty():
        return None

    def report(table: str) -> None:
        click.echo(f"  {verb} {table}", err=True)

    return report


@db.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True, help="Replace FILE when it exists.")
@json_option
@pass_app
def backup(app: AppContext, file: Path, force: bool, as_json: bool) -> None:
    """Back up the database into FILE (pg_dump custom format, mode 0600).

    Safe while workers run: pg_dump reads one consistent snapshot. Only
    pellacia-dist's schema is saved (posts, deliveries, their history,
    credentials still encrypted, API keys, webhooks, analytics). The vault key
    is NOT in it: keep a copy made with `pellacia-dist vault export-key` apart
    from the backups. Restore with `pellacia-dist db restore FILE`.
    """
    from pellacia.log import redact_text
    from pellacia.store import backup as store
    from pellacia.store.pool import connect_one, ensure_dsn

    async def schema_of() -> tuple[str, str]:
        dsn = await ensure_dsn(app.settings)
        conn = await connect_one(dsn)
        try:
            return dsn, await store.current_schema(conn)
        finally:
            await conn.close()

    try:
        store.check_destination(file, force=force)
    except store.BackupError as exc:  # bad input: nothing written
        fail(str(exc), code=2)
    try:
        dsn, schema = asyncio.run(schema_of())
        if not as_json:
            click.echo(f"backing up {redact_text(dsn)} (schema {schema}) ...", err=True)
        result = store.dump(
            dsn, file, schema=schema, force=force, progress=_progress(as_json, "saved")
        )
    except store.BackupError as exc:
        fail(str(exc))
    except Exception as exc:  # connection refused and the like: never the DSN's password
        fail(f"backup failed: {redact_text(str(exc))}")
    taken = result.info.created_at
    if as_json:
        emit_json(
            {
                "file": str(result.path),
                "bytes": result.bytes,
                "seconds": round(result.seconds, 3),
                "taken_at": taken.isoformat() if taken else None,
                "schema": schema,
                "tables": len(result.info.tables),
                "server_version": result.info.server_version,
            }
        )
        return
    click.echo(
        f"backup written to {result.path}: {_size(result.bytes)}, "
        f"{len(result.info.tables)} tables, snapshot of {taken or 'now'}, "
        f"in {result.seconds:.1f} s"
    )
    click.echo(
        "The vault key is not in it: keep a copy made with "
        "`pellacia-dist vault export-key` apart from the backups."
    )


@db.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--force",
    is_flag=True,
    help="Replace what the database holds, even with other clients connected.",
)
@json_option
@pass_app
def restore(app: AppContext, file: Path, force: bool, as_json: bool) -> None:
    """Restore a backup made by `db backup` into this database.

    Stop every worker, `serve` and `watch` first. The database must hold no
    data (a new `db up`, or a new empty database): `--force` replaces what it
    holds. Deliveries that had not ended when the backup was taken may have
    been published since; each is checked against its platform before it is
    uploaded again (reconcile), so nothing is posted twice. Afterwards run
    `pellacia-dist db migrate` when this version has newer migrations.
    """
    from pellacia.log import redact_text
    from pellacia.store import backup as store
    from pellacia.store import migrate as migrations
    from pellacia.store.pool import connect_one, ensure_dsn

    try:
        info = store.inspect(file.expanduser())
    except store.BackupError as exc:
        fail(str(exc), code=2)

    async def prepare() -> tuple[str, set[str], list[str]]:
        dsn = await ensure_dsn(app.settings)
        conn = await connect_one(dsn)
        try:
            schema = await store.current_schema(conn)
            others = await store.other_sessions(conn)
            if others and not force:
                fail(
                    f"{len(others)} other client(s) are connected to the database "
                    f"({', '.join(sorted(set(others)))}): stop every worker, serve and watch "
                    "first, or pass --force"
                )
            tables, used = await store.contents(conn, schema)
            if used and not force:
                fail(
                    f"the database holds data ({', '.join(used[:6])}"
                    f"{', ...' if len(used) > 6 else ''}); restoring replaces all of it. "
                    "Back it up first, then pass --force"
                )
            if tables:
                await store.clear_schema(conn, schema)
            return dsn, await store.schemas(conn), tables
        finally:
            await conn.close()

    async def finish(dsn: str) -> tuple[int, dict[str, Any], int]:
        conn = await connect_one(dsn)
        try:
            flagged = await store.after_restore(conn, info.created_at)
            summary = await store.summary(conn)
            pending = [
                m
                for m in await migrations.status(conn, app.registry.migrations)
                if m.applied_at is None
            ]
            return flagged, summary, len(pending)
        finally:
            await conn.close()

    try:
        dsn, existing, replaced = asyncio.run(prepare())
        if not as_json:
            click.echo(
                f"restoring {file} (snapshot of {info.created_at or '?'}) into "
                f"{redact_text(dsn)} ...",
                err=True,
            )
        seconds = store.restore(
            dsn, file.expanduser(), info, existing_schemas=existing,
            progress=_progress(as_json, "restored"),
        )  # fmt: skip
        flagged, summary, pending = asyncio.run(finish(dsn))
    except store.BackupError as exc:
        fail(f"{exc}\nNothing was restored; the database is left empty.")
    except Exception as exc:  # connection refused and the like: never the DSN's password
        fail(f"restore failed: {redact_text(str(exc))}")
    missing = _missing_keys(app, summary["credential_keys"])
    if as_json:
        emit_json(
            {
                "file": str(file),
                "taken_at": info.created_at.isoformat() if info.created_at else None,
                "seconds": round(seconds, 3),
                "replaced_tables": len(replaced),
                "posts": summary["posts"],
                "deliveries": summary["deliveries"],
                "to_reconcile": flagged,
                "credentials": sum(summary["credential_keys"].values()),
                "missing_key_ids": missing,
                "pending_migrations": pending,
            }
        )
        return
    states = ", ".join(f"{n} {s}" for s, n in sorted(summary["deliveries"].items())) or "none"
    click.echo(
        f"restored {file} (snapshot of {info.created_at or '?'}) in {seconds:.1f} s: "
        f"{summary['posts']} posts; deliveries: {states}"
    )
    if flagged:
        click.echo(
            f"{flagged} unfinished deliveries may have been published after the backup: "
            "each is checked against its platform before any new upload or publish."
        )
    if missing:
        click.echo(
            f"warning: credentials sealed with vault key(s) {', '.join(missing)}, which this "
            "machine lacks: import them with `pellacia-dist vault import-key FILE`",
            err=True,
        )
    if pending:
        click.echo(f"{pending} migration(s) pending: run `pellacia-dist db migrate`")


def _missing_keys(app: AppContext, used: dict[str, int]) -> list[str]:
    """Key ids that seal restored credentials but are not in this machine's key ring."""
    from pellacia.errors import ConfigError
    from pellacia.vault import load_keyring

    if not used:
        return []
    secret = app.settings.secret_key
    try:
        ring = load_keyring(
            app.settings.data_dir, secret.get_secret_value() if secret else None, create=False
        )
    except ConfigError:
        return sorted(used)
    have = {key.key_id for key in ring.keys}
    return sorted(k for k in used if k not in have)
