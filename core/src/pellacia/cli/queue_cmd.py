"""``pellacia-dist queue status|clear|retry``: look at and tidy the delivery queue."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pellacia.cli.context import AppContext, console, emit_json, fail, json_option, pass_app

if TYPE_CHECKING:
    from pellacia.scheduling.service import QueueStatus

T = TypeVar("T")


def _with_conn(app: AppContext, action: Callable[[Any], Awaitable[T]]) -> T:
    import asyncio

    from pellacia.delivery.errors import BadInput, NotFound
    from pellacia.errors import ConfigError
    from pellacia.store.pool import connect

    async def run() -> T:
        pool = await connect(app.settings, app.registry.migrations, max_size=2)
        try:
            async with pool.acquire() as conn:
                return await action(conn)
        finally:
            await pool.close()

    try:
        return asyncio.run(run())
    except (BadInput, NotFound, ConfigError) as exc:
        fail(str(exc), code=2)
    raise AssertionError("unreachable")


def _when(value: datetime | None, zone: str) -> str:
    """A time in the user's zone, with the zone named."""
    if value is None:
        return "now"
    from zoneinfo import ZoneInfo

    local = value.astimezone(ZoneInfo(zone))
    abbreviation = local.tzname()
    # "EST (America/New_York)", but just "UTC" when the two say the same
    suffix = abbreviation if abbreviation == zone else f"{abbreviation} ({zone})"
    return f"{local:%Y-%m-%d %H:%M:%S} {suffix}"


@click.group()
def queue() -> None:
    """The delivery queue: what waits, why, and until when."""


@queue.command()
@json_option
@pass_app
def status(app: AppContext, as_json: bool) -> None:
    """Counts per platform and state, next due time, spacing windows per
    account, breaking-news pauses, and quota or rate-limit waits."""
    from pellacia.clock import SYSTEM_CLOCK
    from pellacia.scheduling.service import queue_status

    result = _with_conn(app, lambda conn: queue_status(conn, SYSTEM_CLOCK.now()))
    if as_json:
        emit_json(result.to_json())
        return
    _render(result, app.settings.timezone)


def _render(s: QueueStatus, zone: str) -> None:
    from rich.table import Table

    out = console()
    states = sorted({state for by in s.counts.values() for state in by})
    counts = Table(title="Deliveries", title_justify="left")
    counts.add_column("platform")
    for state in states:
        counts.add_column(state, justify="right")
    for platform, by in sorted(s.counts.items()):
        counts.add_row(platform, *(str(by.get(state, 0)) for state in states))
    out.print(counts if s.counts else "No deliveries.")
    nxt = "nothing queued" if s.next_due is None else _when(s.next_due, zone)
    out.print(f"Next due: {nxt}")
    if s.orphaned_uploads:
        out.print(
            f"Abandoned remote uploads: {s.orphaned_uploads} (uploads started over after a "
            "lost session; the platform lets them expire)"
        )
    if s.accounts:
        table = Table(title="Accounts", title_justify="left")
        for col in ("platform", "account", "next post allowed", "in flight", "queued", "status"):
            table.add_column(col, overflow="fold")
        for a in s.accounts:
            notes = []
            if a.paused:
                until = _when(a.paused_until, zone) if a.paused_until else "resumed"
                notes.append(f"paused until {until}: {a.pause_reason or 'no reason given'}")
            if a.breaking_active:
                notes.append("breaking news: normal posts paused")
            if a.blocked_until is not None:
                notes.append(f"rate-limited until {_when(a.blocked_until, zone)}")
                if a.block_reason:
                    notes.append(a.block_reason)
            table.add_row(
                a.platform,
                a.account,
                _when(a.next_at, zone),
                str(a.in_flight),
                str(a.queued),
                "; ".join(notes) or "ok",
            )
        out.print(table)
    if s.waiting:
        table = Table(title="Waiting", title_justify="left")
        for col in ("delivery", "platform", "account", "reason", "until"):
            table.add_column(col, overflow="fold")
        for w in s.waiting:
            table.add_row(
                str(w.id)[:8],
                w.platform,
                w.account,
                w.reason,
                _when(w.until, zone) if w.until else "-",
            )
        out.print(table)
    if s.budgets:
        table = Table(title="Quota budgets and blocks", title_justify="left")
        for col in ("bucket", "used", "window resets", "blocked until"):
            table.add_column(col, overflow="fold")
        for b in s.budgets:
            table.add_row(
                b.bucket,
                str(b.used),
                _when(b.window_end, zone) if b.window_end else "-",
                _when(b.blocked_until, zone) if b.blocked_until else "-",
            )
        out.print(table)


@queue.command()
@click.option(
    "--status",
    "state",
    type=click.Choice(["failed", "cancelled", "manual"]),
    required=True,
    help="Which finished deliveries to delete.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_app
def clear(app: AppContext, state: str, yes: bool, as_json: bool) -> None:
    """Delete deliveries that ended failed, cancelled or in the manual queue."""
    from pellacia.scheduling import service

    if not yes and not click.confirm(f"Delete every {state} delivery?", default=False):
        fail("nothing deleted", code=1)
    removed = _with_conn(app, lambda conn: service.clear(conn, state))
    if as_json:
        emit_json({"status": state, "deleted": removed})
    else:
        click.echo(f"deleted {removed} {state} deliveries")


@queue.command()
@click.option("--id", "delivery", required=True, help="Delivery id (or a unique prefix).")
@json_option
@pass_app
def retry(app: AppContext, delivery: str, as_json: bool) -> None:
    """Send a failed or manual delivery again now (its upload resumes)."""
    from pellacia.clock import SYSTEM_CLOCK
    from pellacia.scheduling import service

    async def action(conn: Any) -> tuple[str, str]:
        delivery_id = await service.find_delivery(conn, delivery)
        return str(delivery_id), await service.retry(conn, delivery_id, SYSTEM_CLOCK.now())

    delivery_id, previous = _with_conn(app, action)
    if as_json:
        emit_json({"id": delivery_id, "previous_state": previous, "state": "ready"})
    else:
        click.echo(f"{delivery_id}: {previous} -> ready (due now)")
