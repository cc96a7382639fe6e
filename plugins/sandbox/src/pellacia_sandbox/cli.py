"""``pellacia-dist sandbox up|status``: run the local platform fakes, or ask one that runs."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from pellacia.cli.context import CommandContext

DEFAULT_PORT = 8790
ENV_URL = "PELLACIA_SANDBOX_URL"


def sandbox_commands(context: CommandContext) -> click.Group:
    """The ``sandbox`` group: ``up`` and ``status`` (which finds the sandbox
    through ``context.sandbox_url`` when not given ``--url``)."""

    @click.group()
    def sandbox() -> None:
        """Local fakes of the platform APIs, with fault injection (for tests and demos)."""

    sandbox.add_command(up)
    sandbox.add_command(status_command(context))
    return sandbox


@click.command("up")
@click.option(
    "--host",
    "bind",
    default="127.0.0.1",
    show_default=True,
    help="Loopback address to bind (anything else is refused).",
)
@click.option(
    "--port", type=int, default=DEFAULT_PORT, show_default=True, help="TCP port (0: any free)."
)
@click.option(
    "--only", multiple=True, metavar="PLATFORM", help="Serve only these fakes (repeatable)."
)
def up(bind: str, port: int, only: tuple[str, ...]) -> None:
    """Start the sandbox and serve until Ctrl-C or SIGTERM."""
    from pellacia_sandbox.host import NotLoopback, check_loopback

    try:
        check_loopback(bind)
    except NotLoopback as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    try:
        asyncio.run(_serve(bind, port, only or None))
    except OSError as exc:
        click.echo(f"error: cannot listen on {bind}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(1)


async def _serve(bind: str, port: int, only: tuple[str, ...] | None) -> None:
    from pellacia_sandbox.host import SandboxHost

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with SandboxHost(host=bind, port=port, only=only) as host:
        click.echo(f"sandbox listening on {host.base_url}")
        for name, fake in sorted(host.fakes.items()):
            click.echo(f"  {name:<10} {fake.base_url}")
        for name, reason in sorted(host.skipped.items()):
            click.echo(f"  {name:<10} skipped: {reason}")
        click.echo(f"  control    {host.base_url}/_control/status")
        click.echo("Use it with:")
        click.echo(f"  pellacia-dist --sandbox {host.base_url} ...")
        click.echo(f"  export {ENV_URL}={host.base_url}")
        click.echo("Ctrl-C to stop.")
        sys.stdout.flush()
        await stop.wait()
    click.echo("sandbox stopped")


def status_command(context: CommandContext) -> click.Command:
    """``sandbox status``: ask a running sandbox what it serves."""

    @click.command("status")
    @click.option(
        "--url",
        envvar=ENV_URL,
        default=None,
        help=f"Sandbox base URL (default: ${ENV_URL}, else --sandbox).",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    def status(url: str | None, as_json: bool) -> None:
        """Show which fakes a running sandbox serves, the clock and the fault count."""
        url = url or context.sandbox_url
        if not url:
            click.echo(f"error: give --url, --sandbox or ${ENV_URL}", err=True)
            sys.exit(2)
        try:
            data = asyncio.run(_status(url))
        except Exception as exc:
            click.echo(
                f"error: no sandbox answering at {url}: {type(exc).__name__}: {exc}", err=True
            )
            sys.exit(1)
        if as_json:
            click.echo(json.dumps(data, indent=2))
            return
        _print_status(data)

    return status


def _print_status(data: dict[str, Any]) -> None:
    click.echo(f"sandbox at {data['base_url']} (clock {data['clock']['now']})")
    for name, base in data["fakes"].items():
        click.echo(f"  {name:<10} {base}")
    for name, reason in data["skipped"].items():
        click.echo(f"  {name:<10} skipped: {reason}")
    click.echo(f"  faults     {data['faults']} active")


async def _status(url: str) -> dict[str, Any]:
    from pellacia_sandbox.control import SandboxControl

    async with SandboxControl(url) as control:
        return await control.status()
