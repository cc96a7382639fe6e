"""pellacia-dist hooks of the vpn plugin (hookimpls only; imports stay light).

One route ``vpn:<name>`` per ``[plugins.vpn.routes.<name>]`` table. A
mistake in a route makes ``configure`` raise ``ConfigError`` (naming the
route, never its password), so ``plugins list`` shows why none registered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pellacia.hookspecs import hookimpl

if TYPE_CHECKING:
    import click
    from pellacia.contract import Route

PLUGIN_API_VERSION = 1

_section: dict[str, Any] = {}


@hookimpl
def configure(settings: Mapping[str, Any]) -> None:
    global _section
    _section = dict(settings)
    if _section:
        from pellacia_vpn.routes import parse_routes

        parse_routes(_section)


@hookimpl
def register_routes(register: Callable[[Route], None]) -> None:
    if not _section:
        return
    from pellacia_vpn.routes import parse_routes

    for route in parse_routes(_section):
        register(route)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from pellacia_vpn.cli import vpn

    cli.add_command(vpn)
