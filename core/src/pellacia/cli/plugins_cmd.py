"""``pellacia-dist plugins``: what was discovered and what failed."""

from __future__ import annotations

import click

from pellacia.cli.context import AppContext, console, emit_json, json_option, pass_app


@click.group()
def plugins() -> None:
    """Inspect installed plugins."""


@plugins.command("list")
@json_option
@pass_app
def list_plugins(app: AppContext, as_json: bool) -> None:
    """List discovered plugins, what each provides, and any that failed to load."""
    from pellacia.plugins import install_commands

    registry = app.registry
    # the commands each plugin adds count among what it provides
    install_commands(registry, click.Group())
    if as_json:
        emit_json([info.to_json() for info in registry.plugins])
        return
    from rich.table import Table

    table = Table(title="pellacia-dist plugins")
    for column in ("name", "distribution", "version", "provides", "status"):
        table.add_column(column)
    for info in registry.plugins:
        status = "[green]ok[/green]" if info.error is None else "[red]failed[/red]"
        table.add_row(
            info.name,
            info.distribution or "-",
            info.version or "-",
            ", ".join(info.provides) or "-",
            status,
        )
    out = console()
    out.print(table)
    for info in registry.plugins:
        if info.error is not None:
            # in full, below the table: a truncated reason helps nobody
            out.print(f"[red]{info.name}[/red] failed to load: {info.error}", soft_wrap=True)
    if not registry.platforms:
        out.print(
            "No platform plugin is installed: pip install pellacia-dist-youtube (or -tiktok, "
            "-meta, -twitter, -linkedin) to publish anywhere."
        )
