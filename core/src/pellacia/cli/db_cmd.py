"""``pellacia-dist db``: the database (embedded cluster or DATABASE_URL)."""

from __future__ import annotations

import asyncio
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
