"""``pellacia-dist vpn check``: is each configured route usable right now?"""

from __future__ import annotations

import click


@click.group()
def vpn() -> None:
    """VPN and proxy routes of the '+vpn' layers."""


@vpn.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_context
def check(ctx: click.Context, as_json: bool) -> None:
    """Open every configured route once and report whether it works."""
    import asyncio

    from pellacia.cli.context import AppContext, emit_json
    from pellacia.errors import PellaciaError

    from pellacia_vpn.routes import parse_routes

    app = ctx.ensure_object(AppContext)
    routes = parse_routes(app.settings.plugins.get("vpn", {}))

    async def probe() -> list[dict[str, object]]:
        results: list[dict[str, object]] = []
        for route in routes:
            try:
                async with route.open():
                    pass
                results.append({"route": route.name, "ok": True, "problem": None})
            except PellaciaError as exc:
                results.append({"route": route.name, "ok": False, "problem": str(exc)})
        return results

    results = asyncio.run(probe())
    if as_json:
        emit_json(results)
    elif not results:
        click.echo("no route configured: add [plugins.vpn.routes.<name>] to the config file")
    for item in [] if as_json else results:
        state = click.style("ok", fg="green") if item["ok"] else click.style("failed", fg="red")
        click.echo(
            f"{item['route']}: {state}" + (f" ({item['problem']})" if item["problem"] else "")
        )
    if any(not item["ok"] for item in results):
        raise SystemExit(1)
