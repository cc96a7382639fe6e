"""``pellacia-dist api-key create|list|revoke``: keys of the REST API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from pellacia.cli.context import AppContext, console, emit_json, json_option, pass_app
from pellacia.cli.delivery_cmd import with_pool

T = TypeVar("T")


def with_conn(app: AppContext, action: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``action(conn)`` on the migrated database (errors as the CLI's exit codes)."""

    async def run(pool: Any) -> T:
        async with pool.acquire() as conn:
            return await action(conn)

    return with_pool(app, run)


@click.group("api-key")
def api_key() -> None:
    """Keys for the REST API (`pellacia-dist serve`): scopes read, write, admin.

    \b
      pellacia-dist api-key create --name dashboard --scopes read,write
      pellacia-dist api-key list
      pellacia-dist api-key revoke dashboard
    """


@api_key.command("create")
@click.option("--name", required=True, help="Who uses it, e.g. dashboard.")
@click.option(
    "--scopes",
    default="read",
    show_default=True,
    metavar="read,write|admin",
    help="What it may do: read, write (create, cancel, retry, resolve), admin (everything).",
)
@json_option
@pass_app
def create(app: AppContext, name: str, scopes: str, as_json: bool) -> None:
    """Make a key. It is shown once: only its hash is stored."""
    from pellacia.api import keys

    key, prefix = with_conn(app, lambda conn: keys.create(conn, name, scopes))
    if as_json:
        emit_json({"name": name, "prefix": prefix, "key": key})
        return
    click.echo(key)
    click.echo(f"API key {name!r} ({prefix}): store it now, it is not shown again", err=True)


@api_key.command("list")
@json_option
@pass_app
def list_keys(app: AppContext, as_json: bool) -> None:
    """Every key: name, prefix, scopes, created, last used, revoked (never the key)."""
    from pellacia.api import keys

    rows: list[dict[str, Any]] = with_conn(app, keys.listing)
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table("name", "prefix", "scopes", "created", "last used", "status")
    for r in rows:
        table.add_row(
            r["name"],
            r["prefix"],
            ",".join(r["scopes"]),
            f"{r['created_at']:%Y-%m-%d %H:%M}",
            f"{r['last_used_at']:%Y-%m-%d %H:%M}" if r["last_used_at"] else "never",
            "revoked" if r["revoked_at"] else "live",
        )
    console().print(table if rows else "no API keys: pellacia-dist api-key create --name NAME")


@api_key.command("revoke")
@click.argument("ident")
@json_option
@pass_app
def revoke(app: AppContext, ident: str, as_json: bool) -> None:
    """Revoke the key with this name, prefix or id (at once, for every server)."""
    from pellacia.api import keys

    done = with_conn(app, lambda conn: keys.revoke(conn, ident))
    if as_json:
        emit_json([{"name": r["name"], "prefix": r["prefix"]} for r in done])
        return
    for r in done:
        click.echo(f"revoked {r['name']} ({r['prefix']})")
