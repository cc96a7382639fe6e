"""``pellacia-dist vpn check``: is each configured route usable right now?"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from pellacia.cli.context import CommandContext
    from pellacia.contract import Route


def vpn_commands(context: CommandContext) -> click.Group:
    """The ``vpn`` group; its commands read the routes from ``context.settings``."""

    @click.group()
    def vpn() -> None:
        """VPN and proxy routes of the '+vpn' layers."""

    @vpn.command("check")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    def check(as_json: bool) -> None:
        """Open every configured route once and report whether it works."""
        import asyncio

        from pellacia.cli.context import emit_json

        from pellacia_vpn.routes import parse_routes

        results = asyncio.run(_probe(parse_routes(context.settings)))
        if as_json:
            emit_json(results)
        else:
            _print(results)
        if any(not item["ok"] for item in results):
            raise SystemExit(1)

    return vpn


async def _probe(routes: Sequence[Route]) -> list[dict[str, object]]:
    from pellacia.errors import PellaciaError

    results: list[dict[str, object]] = []
    for route in routes:
        try:
            async with route.open():
                pass
            results.append({"route": route.name, "ok": True, "problem": None})
        except PellaciaError as exc:
            results.append({"route": route.name, "ok": False, "problem": str(exc)})
    return results


def _print(results: list[dict[str, object]]) -> None:
    if not results:
        click.echo("no route configured: add [plugins.vpn.routes.<name>] to the config file")
    for item in results:
        state = click.style("ok", fg="green") if item["ok"] else click.style("failed", fg="red")
        problem = f" ({item['problem']})" if item["problem"] else ""
        click.echo(f"{item['route']}: {state}{problem}")
