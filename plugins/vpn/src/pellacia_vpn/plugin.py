"""pellacia-dist hooks of the vpn plugin (hookimpls only; imports stay light).

One route ``vpn:<name>`` per ``[plugins.vpn.routes.<name>]`` table. A
mistake in a route makes ``register_routes`` raise ``ConfigError`` (naming
the route, never its password), so ``plugins list`` shows why none registered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pellacia.hookspecs import hookimpl

if TYPE_CHECKING:
    import click
    from pellacia.cli.context import CommandContext
    from pellacia.contract import Route

PLUGIN_API_VERSION = 1


@hookimpl
def register_routes(register: Callable[[Route], None], settings: Mapping[str, Any]) -> None:
    if not settings:
        return
    from pellacia_vpn.routes import parse_routes

    for route in parse_routes(settings):
        register(route)


@hookimpl
def register_commands(cli: click.Group, context: CommandContext) -> None:
    import click

    from pellacia_vpn.cli import test_vpn_command, vpn_commands

    cli.add_command(vpn_commands(context))
    test = cli.commands.get("test")
    if not isinstance(test, click.Group):
        test = click.Group("test", help="End-to-end checks of this installation.")
        cli.add_command(test)
    test.add_command(test_vpn_command(context))
