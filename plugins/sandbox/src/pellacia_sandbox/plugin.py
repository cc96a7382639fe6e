"""pellacia-dist hooks of the sandbox plugin (hookimpls only; imports stay light)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pellacia.hookspecs import hookimpl

if TYPE_CHECKING:
    import click
    from pellacia.cli.context import CommandContext

PLUGIN_API_VERSION = 1


@hookimpl
def register_commands(cli: click.Group, context: CommandContext) -> None:
    from pellacia_sandbox.cli import sandbox_commands

    cli.add_command(sandbox_commands(context))
