"""``pellacia-dist test``: the self-checks (alerts, a platform account, VPN, browser).

Each check prints one line per step, ``PASS`` or ``FAIL`` with what to fix,
and exits 0 when every step passed, 1 otherwise. Plugins add their own checks
to this group from ``register_commands`` (``cli.commands["test"]``): the VPN
plugin adds ``test vpn``, the browser plugin ``test browser``; without them
those names say which package to install.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

import click

from pellacia.cli.context import AppContext, console, pass_app

#: checks other packages provide: name -> the distribution to install
PLUGIN_CHECKS: dict[str, str] = {"vpn": "pellacia-dist-vpn", "browser": "pellacia-dist-browser"}
#: a sink that takes longer than this to send the test alert fails the check
SINK_TIMEOUT_S = 30.0
#: warn when a refresh token or long-lived token dies within this many days
TOKEN_WARN_DAYS = 7


@dataclass(frozen=True)
class Step:
    """One step's result: ``ok`` and what it saw (or what to fix)."""

    name: str
    ok: bool
    detail: str


def report(steps: list[Step]) -> NoReturn:
    """Print each step and exit 0 (all passed) or 1."""
    out = console()
    for step in steps:
        mark = "[green]PASS[/]" if step.ok else "[red]FAIL[/]"
        out.print(f"{mark} {step.name}: {step.detail}", markup=True, soft_wrap=True)
    passed = all(s.ok for s in steps)
    out.print("all checks passed" if passed else "some checks failed")
    raise SystemExit(0 if passed else 1)


class TestGroup(click.Group):
    """Loads plugin commands before looking a check up; names a missing plugin."""

    def _plugins(self, ctx: click.Context) -> None:
        load = getattr(ctx.find_root().command, "load_plugin_commands", None)
        if load is not None:
            load()

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._plugins(ctx)
        return sorted({*super().list_commands(ctx), *PLUGIN_CHECKS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        self._plugins(ctx)
        command = super().get_command(ctx, name)
        if command is None and name in PLUGIN_CHECKS:
            return _missing(name, PLUGIN_CHECKS[name])
        return command


def _missing(name: str, distribution: str) -> click.Command:
    @click.command(
        name,
        help=f"Check the {name} plugin (install {distribution}).",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
    def check() -> None:
        report([Step(name, False, f"not installed: install {distribution}")])

    return check


@click.group(cls=TestGroup)
def test() -> None:
    """Self-checks: does each part of this installation work here?"""


async def _send_one(sink: Any, alert: Any) -> Step:
    name = getattr(sink, "name", type(sink).__name__)
    try:
        await asyncio.wait_for(sink.send(alert), SINK_TIMEOUT_S)
    except Exception as exc:  # each sink on its own: report and go on
        return Step(f"alert sink {name}", False, f"{type(exc).__name__}: {exc}")
    return Step(f"alert sink {name}", True, "sent")


@test.command()
@pass_app
def alerts(app: AppContext) -> None:
    """Send a test alert through every alert sink and report each."""
    from pellacia.clock import SYSTEM_CLOCK
    from pellacia.contract import Alert

    sinks = app.registry.alert_sinks
    # critical: every sink's level filter lets it through
    alert = Alert(
        level="critical",
        title="pellacia-dist test alert",
        body="Sent by `pellacia-dist test alerts`: if you read this, alerts reach you.",
        at=SYSTEM_CLOCK.now(),
    )

    async def run() -> list[Step]:
        return list(await asyncio.gather(*(_send_one(s, alert) for s in sinks)))

    steps = asyncio.run(run())
    if not any(getattr(s, "name", "") != "log" for s in sinks):
        steps.append(Step("alert sinks", False, "only the log sink: configure [plugins.telegram]"))
    report(steps)


@test.command()
@click.argument("platform")
@click.option("--account", default="default", show_default=True)
@pass_app
def platform(app: AppContext, platform: str, account: str) -> None:
    """Check PLATFORM's ACCOUNT: credentials, token, scopes, a read call, quota left."""
    from pellacia.store.pool import connect

    found = app.registry.platforms.get(platform)
    if found is None:
        report([Step("plugin", False, f"no installed plugin provides {platform!r}")])

    async def run() -> list[Step]:
        pool = await connect(app.settings, app.registry.migrations, max_size=2)
        try:
            return await _platform_steps(app, pool, found, account)
        finally:
            await pool.close()

    report(asyncio.run(run()))


async def _platform_steps(app: AppContext, pool: Any, platform: Any, account: str) -> list[Step]:
    from pellacia.clock import SYSTEM_CLOCK
    from pellacia.delivery.context import Contexts
    from pellacia.http import client_session
    from pellacia.tokens import platform_context

    settings = app.settings
    steps = [Step("plugin", True, f"{platform.display_name} installed")]
    tokens = Contexts(pool, settings, SYSTEM_CLOCK).tokens(platform, account)
    async with client_session() as http:
        ctx = platform_context(
            platform,
            account=account,
            http=http,
            tokens=tokens,
            settings=settings.plugins.get(platform.name, {}),
            sandbox_url=settings.sandbox_url,
            base_url=settings.account(platform.name, account).base_url,
        )
        try:
            current = await tokens.current()  # refreshes (a call) when it is expiring
        except Exception as exc:
            steps.append(Step("token", False, f"{exc}"))
            return steps
        steps.append(_token_step(current, SYSTEM_CLOCK.now()))
        steps.append(_scope_step(current, platform))
        steps.append(await _read_step(platform, ctx))
    async with pool.acquire() as conn:
        steps.append(await _quota_step(conn, platform, account, SYSTEM_CLOCK.now()))
    return steps


async def _quota_step(conn: Any, platform: Any, account: str, now: datetime) -> Step:
    """An announced block, and what is left of each daily (fixed-window) budget."""
    from pellacia.store import quotas
    from pellacia.store import status as store_status

    block = await quotas.active_block(conn, platform.name, account, now)
    if block is not None:
        until, reason = block
        return Step("quota", False, f"rate-limited until {until:%Y-%m-%d %H:%M} UTC ({reason})")
    used = {
        r["bucket"]: r["used"]
        for r in await store_status.budgets(conn, now)
        if r["window_end"] is not None and r["window_end"] > now
    }
    notes = []
    for budget in platform.quotas:
        if budget.window is not None or budget.per_call:
            continue  # rolling and per-call budgets are checked as they are spent
        left = budget.limit - used.get(quotas.bucket_for(platform.name, account, budget), 0)
        if left < budget.cost_per_delivery:
            return Step("quota", False, f"{budget.name} used up ({left} of {budget.limit} left)")
        notes.append(f"{budget.name} {left} of {budget.limit} left")
    return Step("quota", True, "; ".join(notes) or "no daily budget")


def _token_step(tokens: Any, now: Any) -> Step:
    if tokens.expires_at is not None and tokens.expires_at <= now:
        return Step("token", False, f"access token expired at {tokens.expires_at:%Y-%m-%d %H:%M}")
    dies = tokens.refresh_expires_at
    if dies is not None and dies - now < timedelta(days=TOKEN_WARN_DAYS):
        return Step("token", False, f"the refresh token dies {dies:%Y-%m-%d}: log in again")
    until = f"until {tokens.expires_at:%Y-%m-%d %H:%M} UTC" if tokens.expires_at else "no expiry"
    return Step("token", True, f"valid {until}")


def _scope_step(tokens: Any, platform: Any) -> Step:
    wanted = set(getattr(platform.auth, "scopes", ()) or ())
    granted = set(tokens.scopes)
    if not granted:
        return Step("scopes", True, "not reported by the platform (not checked)")
    missing = sorted(wanted - granted)
    if missing:
        return Step("scopes", False, f"missing {' '.join(missing)}: log in again to grant them")
    return Step("scopes", True, " ".join(sorted(granted)) or "none needed")


async def _read_step(platform: Any, ctx: Any) -> Step:
    """The platform's cheap read call, when its plugin offers one (``check_account``)."""
    check: Callable[[Any], Awaitable[str]] | None = getattr(platform, "check_account", None)
    if check is None:
        return Step("read call", True, "skipped: the plugin offers no account check")
    try:
        return Step("read call", True, await check(ctx))
    except Exception as exc:
        return Step("read call", False, f"{type(exc).__name__}: {exc}")
