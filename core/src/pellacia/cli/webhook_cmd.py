"""``pellacia-dist webhook add|list|remove|test``: lifecycle events to other systems."""

from __future__ import annotations

import uuid
from typing import Any

import click

from pellacia.cli.api_key_cmd import with_conn
from pellacia.cli.context import AppContext, console, emit_json, fail, json_option, pass_app


@click.group()
def webhook() -> None:
    """Endpoints that get every delivery event, signed per Standard Webhooks.

    \b
      pellacia-dist webhook add https://dash.example.org/hooks --events delivery.*
      pellacia-dist webhook list
      pellacia-dist webhook test 3f2a1c...
      pellacia-dist webhook remove 3f2a1c...

    `serve` and `worker` send them (at least once, in order per delivery,
    retried with backoff for [webhooks] retry_hours).
    """


def _id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        fail(f"give the webhook's full id (webhook list), not {text!r}", code=2)
    raise AssertionError("unreachable")


@webhook.command("add")
@click.argument("url")
@click.option("--events", default=None, metavar="a,b|delivery.*", help="Types to send (all).")
@json_option
@pass_app
def add(app: AppContext, url: str, events: str | None, as_json: bool) -> None:
    """Register URL; prints its signing secret once (receivers verify with it)."""
    from pellacia.api import webhooks
    from pellacia.vault import vault_for

    settings = app.settings.webhooks
    vault = vault_for(app.settings)
    hook_id, secret = with_conn(
        app, lambda conn: webhooks.add(conn, url, events, settings, vault=vault)
    )
    if as_json:
        emit_json({"id": str(hook_id), "url": url, "secret": secret})
        return
    click.echo(secret)
    click.echo(f"webhook {hook_id} added: keep the secret above to verify signatures", err=True)


@webhook.command("list")
@json_option
@pass_app
def list_hooks(app: AppContext, as_json: bool) -> None:
    """Every endpoint, its filter, backlog and health (never its secret)."""
    from pellacia.api import webhooks

    rows: list[dict[str, Any]] = with_conn(app, webhooks.listing)
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table("id", "url", "events", "backlog", "status")
    for r in rows:
        status = (
            f"disabled: {r['disabled_reason']}"
            if r["disabled_at"]
            else (
                f"failing since {r['failing_since']:%Y-%m-%d %H:%M}" if r["failing_since"] else "ok"
            )
        )
        table.add_row(
            str(r["id"]), r["url"], ",".join(r["events"]) or "all", str(r["backlog"]), status
        )
    console().print(table if rows else "no webhooks: pellacia-dist webhook add URL")


@webhook.command("remove")
@click.argument("hook_id")
@pass_app
def remove(app: AppContext, hook_id: str) -> None:
    """Remove an endpoint (its unsent messages go with it)."""
    from pellacia.api import webhooks

    ident = _id(hook_id)
    with_conn(app, lambda conn: webhooks.remove(conn, ident))
    click.echo(f"removed webhook {ident}")


@webhook.command("test")
@click.argument("hook_id")
@pass_app
def test(app: AppContext, hook_id: str) -> None:
    """Send a signed ping now; exit 1 unless the endpoint answers 2xx."""
    from datetime import UTC, datetime

    from pellacia.api import webhooks

    ident = _id(hook_id)
    from pellacia.vault import vault_for

    settings = app.settings.webhooks
    vault = vault_for(app.settings)
    status, error = with_conn(
        app,
        lambda conn: webhooks.send_test(conn, ident, settings, datetime.now(UTC), vault=vault),
    )
    if error is not None:
        fail(f"ping failed: {error}", code=1)
    click.echo(f"ping delivered (HTTP {status})")
