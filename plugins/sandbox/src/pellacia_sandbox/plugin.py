"""pellacia-dist hooks of the sandbox plugin (hookimpls only; imports stay light)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pellacia.hookspecs import hookimpl

if TYPE_CHECKING:
    import click

PLUGIN_API_VERSION = 1


@hookimpl
def register_commands(cli: click.Group) -> None:
    from pellacia_sandbox.cli import sandbox

    cli.add_command(sandbox)
