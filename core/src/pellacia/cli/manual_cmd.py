"""``pellacia-dist manual list|export|resolve``: the queue of posts a person must make.

Exit status: 0 ok, 2 bad input (unknown id, not in the manual queue, bad URL).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pellacia.cli.context import AppContext, console, emit_json, json_option, pass_app
from pellacia.cli.delivery_cmd import with_pool

if TYPE_CHECKING:
    import asyncpg


@click.group()
def manual() -> None:
    """Deliveries every automatic layer gave up on: export a package, post by hand, resolve.

    \b
      pellacia-dist manual list
      pellacia-dist manual export --id 3f2a --zip --to ~/Desktop
      pellacia-dist manual resolve --id 3f2a --post-url https://youtu.be/abc123
    """


async def _delivery_id(pool: asyncpg.Pool, ident: str) -> Any:
    from pellacia.delivery.errors import BadInput
    from pellacia.delivery.service import resolve_id

    kind, value = await resolve_id(pool, ident)
    if kind != "delivery":
        raise BadInput(f"{ident} is a post; give the id of one of its deliveries")
    return value


@manual.command("list")
@json_option
@pass_app
def manual_list(app: AppContext, as_json: bool) -> None:
    """Deliveries waiting for a person, oldest first."""
    from pellacia.delivery.manual import list_manual

    items = with_pool(app, list_manual)
    if as_json:
        emit_json([i.to_json() for i in items])
        return
    if not items:
        console().print("the manual queue is empty")
        return
    from rich.table import Table

    table = Table("delivery", "platform", "title", "since", "why", "package")
    for i in items:
        why = ("[bold red]OUTCOME UNKNOWN[/bold red] " if i.outcome_unknown else "") + (
            i.last_error or ""
        )
        table.add_row(
            str(i.delivery_id),
            f"{i.platform}/{i.account}",
            i.title,
            f"{i.since:%Y-%m-%d %H:%M} UTC",
            why,
            i.package or "",
        )
    console().print(table)


@manual.command("export")
@click.option("--id", "ident", required=True, help="Delivery id (or its first characters).")
@click.option("--zip", "as_zip", is_flag=True, help="Also pack the folder as a .zip.")
@click.option("--to", "to", type=click.Path(path_type=Path, file_okay=False), help="Target folder.")
@json_option
@pass_app
def manual_export(
    app: AppContext, ident: str, as_zip: bool, to: Path | None, as_json: bool
) -> None:
    """Write the package (video, metadata.json, INSTRUCTIONS.md, errors.json)."""
    from pellacia.delivery.manual import export

    settings = app.settings

    async def action(pool: asyncpg.Pool) -> Path:
        did = await _delivery_id(pool, ident)
        return await export(pool, settings, did, to=to, as_zip=as_zip)

    path = with_pool(app, action)
    if as_json:
        emit_json({"package": str(path)})
    else:
        click.echo(str(path))


@manual.command("resolve")
@click.option("--id", "ident", required=True, help="Delivery id (or its first characters).")
@click.option("--post-url", required=True, help="URL of the post you made.")
@json_option
@pass_app
def manual_resolve(app: AppContext, ident: str, post_url: str, as_json: bool) -> None:
    """Mark a manual delivery published at POST_URL (never posted again)."""
    from pellacia.clock import SYSTEM_CLOCK
    from pellacia.delivery.manual import resolve

    async def action(pool: asyncpg.Pool) -> tuple[Any, str]:
        did = await _delivery_id(pool, ident)
        return did, await resolve(pool, did, post_url=post_url, at=SYSTEM_CLOCK.now())

    did, remote_id = with_pool(app, action)
    if as_json:
        emit_json({"delivery_id": str(did), "remote_id": remote_id, "url": post_url})
    else:
        click.echo(f"delivery {did} published at {post_url} (post id {remote_id})")
