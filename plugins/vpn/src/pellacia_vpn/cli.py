"""``pellacia-dist vpn up|down|status|check|import`` and ``pellacia-dist test vpn``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from pellacia.cli.context import CommandContext

    from pellacia_vpn.routes import Route


def vpn_commands(context: CommandContext) -> click.Group:
    """The ``vpn`` group; its commands read the routes from ``context.settings``."""

    @click.group()
    def vpn() -> None:
        """VPN and proxy routes of the '+vpn' layers."""

    @vpn.command("check")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    def check(as_json: bool) -> None:
        """Bring every route up, probe it once, report, and take it down again."""
        results = _run(context, _check_all)
        _report(results, as_json)
        if any(not item["ok"] for item in results):
            raise SystemExit(1)

    @vpn.command("up")
    @click.argument("names", nargs=-1)
    def up(names: tuple[str, ...]) -> None:
        """Bring routes up (all, or NAMES) and hold them until Ctrl-C."""
        _run(context, lambda routes: _hold(_pick(routes, names)))

    @vpn.command("down")
    def down() -> None:
        """Remove every tunnel route no running pellacia-dist holds (a crashed run's)."""
        from pellacia_vpn import netns
        from pellacia_vpn.routes import PluginSettings

        prefix = PluginSettings.model_validate(_plugin_table(context)).prefix
        removed = netns.clean_stale(prefix)
        click.echo(f"removed: {', '.join(removed)}" if removed else "nothing to remove")

    @vpn.command("status")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    def status(as_json: bool) -> None:
        """Each route: held or not, state, egress IP, latency, last failure."""
        from pellacia_vpn.routes import parse_routes

        _report([_status(route) for route in parse_routes(_section(context))], as_json)

    vpn.add_command(import_command(context))
    return vpn


def import_command(context: CommandContext) -> click.Command:
    @click.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--name", required=True, help="Route name: the route becomes vpn:NAME.")
    @click.option("--platforms", default="", help="Comma-separated platforms (default: all).")
    @click.option("--username", default=None, help="The provider's VPN user name.")
    @click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
    def import_(
        file: Path, name: str, platforms: str, username: str | None, password_stdin: bool
    ) -> None:
        """Check a provider's .ovpn or wg-quick FILE and install it as a route.

        The file is copied unedited (0600) into the routes directory; the
        password (asked, or read from stdin) is sealed with the vault's key.
        """
        import sys

        from pellacia.cli.context import fail
        from pellacia.errors import ConfigError

        from pellacia_vpn.importer import import_route
        from pellacia_vpn.routes import PluginSettings
        from pellacia_vpn.tunnel import Credentials

        credentials = None
        if username:
            if password_stdin:
                password = sys.stdin.readline().rstrip("\n")
            else:
                password = click.prompt("VPN password", hide_input=True)
            credentials = Credentials(username, password)
        data_dir = context.config.data_dir
        plugin = PluginSettings.model_validate(_plugin_table(context))
        try:
            done = import_route(
                file,
                name=name,
                data_dir=data_dir,
                routes_dir=plugin.dir or data_dir / "vpn",
                platforms=[p.strip() for p in platforms.split(",") if p.strip()],
                credentials=credentials,
            )
        except ConfigError as exc:
            fail(str(exc))
            return
        for note in done.notes:
            click.echo(f"note: {note}")
        click.echo(f"imported vpn:{done.name} ({done.kind}) from {file.name}")

    return import_


def test_vpn_command(context: CommandContext) -> click.Command:
    @click.command("vpn")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    def test_vpn(as_json: bool) -> None:
        """Bring every route up and prove each egress differs from the direct one."""
        from pellacia.cli.context import fail

        from pellacia_vpn.routes import PluginSettings

        check_url = PluginSettings.model_validate(_plugin_table(context)).check_url
        if not check_url:
            fail("set check_url in [plugins.vpn] (a URL that answers with the caller's IP)")
            return
        results = _run(context, lambda routes: _test_all(routes, check_url))
        _report(results, as_json)
        if any(not item["ok"] for item in results):
            raise SystemExit(1)

    return test_vpn


# ---------------------------------------------------------------------- helpers
def _section(context: CommandContext) -> dict[str, Any]:
    """``[plugins.vpn]``, its routes directory defaulting to the config's data dir."""
    section = dict(context.settings)
    section.setdefault("dir", str(context.config.data_dir / "vpn"))
    return section


def _plugin_table(context: CommandContext) -> dict[str, Any]:
    return {k: v for k, v in _section(context).items() if k != "routes"}


def _run(context: CommandContext, work: Any) -> Any:
    """Parse the routes, run ``work(routes)`` and always tear the tunnels down."""
    import asyncio

    from pellacia.cli.context import fail
    from pellacia.errors import ConfigError

    from pellacia_vpn.routes import TunnelRoute, parse_routes

    try:
        routes = parse_routes(_section(context))
    except ConfigError as exc:
        fail(str(exc))
        raise

    async def main() -> Any:
        try:
            return await work(routes)
        finally:
            supervisors = {
                id(r.supervisor): r.supervisor for r in routes if isinstance(r, TunnelRoute)
            }
            for supervisor in supervisors.values():
                await supervisor.close()

    return asyncio.run(main())


def _pick(routes: Sequence[Route], names: Sequence[str]) -> list[Route]:
    wanted = {n.removeprefix("vpn:") for n in names}
    return [r for r in routes if not wanted or r.route in wanted]


async def _check_one(route: Route) -> dict[str, Any]:
    from pellacia.errors import PellaciaError

    from pellacia_vpn.probe import probe
    from pellacia_vpn.routes import TunnelRoute

    item: dict[str, Any] = {"route": route.name, "ok": False, "egress_ip": None, "problem": None}
    try:
        async with route.open() as handle:
            if isinstance(route, TunnelRoute):
                result = await route.supervisor.check(route.route, handle.proxy)
            elif route.check_url:
                result = await probe(handle.proxy, route.check_url, 5.0)
            else:
                item["ok"] = True
                return item
            item.update(
                ok=result.ok,
                egress_ip=result.egress_ip,
                latency_ms=round(result.latency * 1000, 1),
                problem=result.problem,
            )
    except PellaciaError as exc:
        item["problem"] = str(exc)
    return item


async def _check_all(routes: Sequence[Route]) -> list[dict[str, Any]]:
    import asyncio

    return list(await asyncio.gather(*(_check_one(r) for r in routes)))


async def _test_all(routes: Sequence[Route], check_url: str) -> list[dict[str, Any]]:
    from pellacia_vpn.probe import probe

    direct = await probe(None, check_url, 10.0)
    first: dict[str, Any] = {
        "route": "direct",
        "ok": direct.ok and direct.egress_ip is not None,
        "egress_ip": direct.egress_ip,
        "problem": direct.problem
        or (None if direct.egress_ip else "the check URL does not say the caller's IP"),
    }
    results = [first, *await _check_all(routes)]
    if not routes:
        first.update(ok=False, problem="no route configured (vpn import FILE --name NAME)")
    for item in results[1:]:
        if item["ok"] and item["egress_ip"] == direct.egress_ip:
            item.update(
                ok=False,
                problem="egress is the same as the direct one: the route does not hide this host",
            )
    return results


async def _hold(routes: Sequence[Route]) -> None:
    import asyncio
    import signal

    for item in await _check_all(routes):
        _report([item], False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    click.echo("routes are up; Ctrl-C takes them down")
    await stop.wait()


def _status(route: Route) -> dict[str, Any]:
    from pellacia_vpn import netns
    from pellacia_vpn.routes import TunnelRoute
    from pellacia_vpn.supervisor import read_status

    item: dict[str, Any] = {"route": route.name, "kind": getattr(route, "tunnel", "proxy")}
    if not isinstance(route, TunnelRoute):
        return {**item, "ok": True, "state": "proxy (not supervised)"}
    names = route.supervisor.names(route)
    lock = netns.Lock(names)
    held = names.run_dir.exists() and not lock.acquire()
    lock.release()
    saved = read_status(names) if held else None
    default = {"state": "starting" if held else "not running"}
    item.update(saved or default, held=held, proxy=names.proxy_url)
    item["route"] = route.name
    item["ok"] = item.get("state") in ("up", "not running", "unknown", "starting")
    return item


def _report(results: list[dict[str, Any]], as_json: bool) -> None:
    from pellacia.cli.context import emit_json

    if as_json:
        emit_json(results)
        return
    if not results:
        click.echo(
            "no route configured: vpn import FILE --name NAME, or [plugins.vpn.routes.<name>]"
        )
    for item in results:
        state = item.get("state") or ("ok" if item["ok"] else "failed")
        colour = "green" if item["ok"] else "red"
        extra = [f"egress {item['egress_ip']}"] if item.get("egress_ip") else []
        if item.get("latency_ms") is not None:
            extra.append(f"{item['latency_ms']} ms")
        problem = item.get("problem") or item.get("last_failure")
        if problem:
            extra.append(str(problem))
        suffix = f" ({'; '.join(extra)})" if extra else ""
        click.echo(f"{item['route']}: {click.style(str(state), fg=colour)}{suffix}")
