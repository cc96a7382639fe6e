"""``pellacia-dist analytics fetch|summary|collect-daily|export``: the metrics history."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pellacia.cli.context import AppContext, console, emit_json, fail, json_option, pass_app

if TYPE_CHECKING:
    from pellacia.analytics.collector import Collector, Progress, RunReport

T = TypeVar("T")
DAY = click.DateTime(formats=["%Y-%m-%d"])


class Invalid(Exception):
    """A choice the user made that does not exist (exit 2, with the valid ones)."""


class Refused(Exception):
    """A question the data cannot answer yet (exit 1, saying why)."""


def _run(app: AppContext, action: Callable[[Collector], Awaitable[T]]) -> T:
    """Run ``action`` with a collector on a fresh pool; bad input exits 2."""
    import asyncio

    from pellacia.analytics.collector import Collector
    from pellacia.clock import SYSTEM_CLOCK
    from pellacia.errors import ConfigError
    from pellacia.store.pool import connect

    async def run() -> T:
        pool = await connect(app.settings, app.registry.migrations, max_size=4)
        try:
            return await action(Collector(pool, app.settings, app.registry, SYSTEM_CLOCK))
        finally:
            await pool.close()

    try:
        return asyncio.run(run())
    except (Invalid, ConfigError) as exc:
        fail(str(exc), code=2)
    except Refused as exc:
        fail(str(exc), code=1)
    raise AssertionError("unreachable")


def _check_platform(collector: Collector, platform: str | None) -> None:
    if platform is not None and platform not in collector.registry.platforms:
        valid = ", ".join(sorted(collector.registry.platforms)) or "(none installed)"
        raise Invalid(f"unknown platform {platform!r}; valid platforms: {valid}")


def _progress(total_label: str) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(
        TextColumn(total_label), BarColumn(), MofNCompleteColumn(), console=console(stderr=True)
    )


async def _with_bar(label: str, job: Callable[[Progress], Awaitable[RunReport]]) -> RunReport:
    with _progress(label) as bar:
        task = bar.add_task(label, total=None)
        return await job(lambda done, total: bar.update(task, completed=done, total=total))


@click.group()
def analytics() -> None:
    """Post and account metrics: collected in the background, kept as a daily history."""


# ------------------------------------------------------------------- fetch


@analytics.command()
@click.option("--platform", "-p", required=True, help="Platform name (see `plugins list`).")
@click.option("--post-id", help="One post (its id from `upload`/`queue status`).")
@click.option("--days", type=click.IntRange(1, 3650), help="Every post of the last N days.")
@json_option
@pass_app
def fetch(
    app: AppContext, platform: str, post_id: str | None, days: int | None, as_json: bool
) -> None:
    """Fetch metrics now (within the analytics budget), store them and print them."""
    if (post_id is None) == (days is None):
        fail("give either --post-id ID or --days N", code=2)

    async def action(c: Collector) -> tuple[RunReport, list[dict[str, Any]]]:
        from pellacia.store import analytics as store

        _check_platform(c, platform)
        async with c.pool.acquire() as conn:
            items = await _targets(conn, c, platform, post_id, days)
        report = await _with_bar(f"{platform}: posts", lambda cb: c.collect(items, on_progress=cb))
        today = c.clock.now().date()
        async with c.pool.acquire() as conn:
            rows = await store.snapshots(conn, platform=platform, start=today, end=today)
        wanted = {i.delivery_id for i in items}
        return report, [r for r in rows if r["delivery_id"] in wanted]

    report, rows = _run(app, action)
    if as_json:
        emit_json({"report": _report_json(report), "snapshots": rows})
        return
    _print_snapshots(rows)
    _print_report(report)


async def _targets(
    conn: Any, c: Collector, platform: str, post_id: str | None, days: int | None
) -> list[Any]:
    from pellacia.store import analytics as store

    if days is not None:
        return await store.published(
            conn, platform=platform, since=c.clock.now() - timedelta(days=days)
        )
    try:
        wanted = uuid.UUID(str(post_id))
    except ValueError:
        wanted = None
    items = await store.published(conn, platform=platform, post_id=wanted) if wanted else []
    if not items:
        recent = await store.published(conn, platform=platform)
        valid = ", ".join(str(i.post_id) for i in recent[-20:]) or "(none published yet)"
        raise Invalid(f"no post {post_id!r} published on {platform}; valid post ids: {valid}")
    return items


def _print_snapshots(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from pellacia.contract import UNIFIED_METRICS

    shown = [m for m in UNIFIED_METRICS if any(m in r["metrics"] for r in rows)]
    table = Table(title="Stored today", title_justify="left")
    for col in ("post", "account", "remote id", *shown):
        table.add_column(col, justify="right" if col in shown else "left")
    for r in rows:
        values = [_number(r["metrics"].get(m)) for m in shown]
        table.add_row(r["title"], r["account"], r["remote_id"], *values)
    console().print(table)


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


# ---------------------------------------------------------------- summary


@analytics.command()
@click.option("--platform", "-p", required=True)
@click.option("--start-date", type=DAY, required=True)
@click.option("--end-date", type=DAY, help="Default: today.")
@click.option("--metric", default="views", show_default=True, help="Metric of the daily series.")
@json_option
@pass_app
def summary(
    app: AppContext,
    platform: str,
    start_date: datetime,
    end_date: datetime | None,
    metric: str,
    as_json: bool,
) -> None:
    """Totals, posts sorted by views, and a daily series drawn in the terminal."""
    from pellacia.analytics.summary import Summary, summarize

    start = start_date.date()

    async def action(c: Collector) -> Summary:
        from pellacia.store import analytics as store

        _check_platform(c, platform)
        end = end_date.date() if end_date else c.clock.now().date()
        async with c.pool.acquire() as conn:
            rows = await store.snapshots(conn, platform=platform, start=start, end=end)
        return summarize(rows, platform, start, end)

    result = _run(app, action)
    if as_json:
        emit_json(result.to_json())
        return
    _print_summary(result, metric)


def _print_summary(s: Any, metric: str) -> None:
    from rich.table import Table

    from pellacia.analytics.summary import bars, spark
    from pellacia.contract import UNIFIED_METRICS

    out = console()
    out.print(f"[bold]{s.platform}[/bold] {s.start} to {s.end}: {len(s.posts)} posts")
    shown = [m for m in UNIFIED_METRICS if m in s.totals]
    totals = Table(title="Totals", title_justify="left")
    for m in shown:
        totals.add_column(m, justify="right")
    totals.add_row(*(_number(s.totals[m]) for m in shown))
    out.print(totals)
    posts = Table(title="Posts (by views)", title_justify="left")
    for col in ("post", "account", "last day", *shown, f"{metric} by day"):
        posts.add_column(col, justify="right" if col in shown else "left")
    for p in s.posts:
        title = p.title + (" (removed)" if p.removed else "")
        days = [m.get(metric) if m else None for m in s.daily[p.delivery_id]]
        figures = (_number(p.metrics.get(m)) for m in shown)
        posts.add_row(title, p.account, str(p.day), *figures, spark(days))
    out.print(posts)
    out.print(f"Daily {metric} (all posts, as of each day)")
    click.echo(bars(s.series, metric))


# ---------------------------------------------------------- collect-daily


@analytics.command("collect-daily")
@json_option
@pass_app
def collect_daily(app: AppContext, as_json: bool) -> None:
    """Run the collection now (what the worker does on its timer): progress, calls
    spent per platform against its budget, 429s."""

    async def action(c: Collector) -> tuple[RunReport, dict[str, str]]:
        from pellacia.analytics.budgets import budget_for

        report = await _with_bar("collecting", lambda cb: c.run_once(on_progress=cb))
        budgets = {}
        for name in c.platforms():
            b = budget_for(c.registry.platforms[name], c.conf.platform(name)).budget
            window = f"per {b.window}" if b.window else "per day"
            budgets[name] = f"{b.limit:,} {window}"
        return report, budgets

    report, budgets = _run(app, action)
    if as_json:
        emit_json({**_report_json(report), "budgets": budgets})
        return
    if not report.leader:
        click.echo("another worker is collecting right now; nothing done")
        return
    _print_report(report, budgets)


def _report_json(r: RunReport) -> dict[str, Any]:
    return {
        "leader": r.leader,
        "due": r.due,
        "calls": dict(r.calls),
        "snapshots": dict(r.snapshots),
        "accounts": dict(r.accounts),
        "removed": dict(r.removed),
        "rate_limited": dict(r.rate_limited),
        "waiting_until": {k: v.isoformat() for k, v in r.waiting.items()},
        "errors": r.errors,
    }


def _print_report(r: RunReport, budgets: dict[str, str] | None = None) -> None:
    from rich.table import Table

    names = sorted(
        set(budgets or ()) | set(r.calls) | set(r.snapshots) | set(r.waiting) | set(r.errors)
    )
    table = Table(title=f"Collection: {r.due} posts due", title_justify="left")
    for col in ("platform", "calls", "budget", "snapshots", "accounts", "removed", "429s"):
        table.add_column(col, justify="left" if col in ("platform", "budget") else "right")
    table.add_column("note")
    for n in names:
        note = r.errors.get(n) or (
            f"waits until {r.waiting[n]:%Y-%m-%d %H:%M} UTC" if n in r.waiting else ""
        )
        table.add_row(
            n,
            str(r.calls[n]),
            (budgets or {}).get(n, ""),
            str(r.snapshots[n]),
            str(r.accounts[n]),
            str(r.removed[n]),
            str(r.rate_limited[n]),
            note,
        )
    console().print(table)


# -------------------------------------------------------------- best-times


@analytics.command("best-times")
@click.option("--platform", "-p", required=True)
@click.option("--account", "-a", help="One account (default: all of the platform's).")
@click.option(
    "--metric",
    default="engagement",
    show_default=True,
    help="engagement (likes+comments+shares+saves) or one unified metric (views, ...).",
)
@click.option("--min-posts", type=click.IntRange(1), default=20, show_default=True)
@click.option("--min-per-slot", type=click.IntRange(1), default=3, show_default=True)
@click.option(
    "--write",
    "top",
    type=click.IntRange(1, 24),
    help="Store the N best hours as the account's daily posting slots.",
)
@json_option
@pass_app
def best_times(
    app: AppContext,
    platform: str,
    account: str | None,
    metric: str,
    min_posts: int,
    min_per_slot: int,
    top: int | None,
    as_json: bool,
) -> None:
    """Hours of the week ranked by engagement from the stored history, in each
    account's zone, with the number of posts behind each; refuses to guess on
    too little data. --write N makes the N best hours the account's slots for
    `schedule --at next-slot`."""
    from pellacia.analytics.best_times import TooLittleData, as_daily_slots, rank

    if top is not None and account is None:
        fail("--write needs --account: slots belong to one account", code=2)

    async def action(c: Collector) -> tuple[list[Any], list[str]]:
        from pellacia.store import analytics as store

        _check_platform(c, platform)
        async with c.pool.acquire() as conn:
            history = await store.engagement_history(conn, platform, account)
        zones = {
            r["account"]: c.settings.account(platform, r["account"]).timezone or c.settings.timezone
            for r in history
        }
        try:
            ranked = rank(
                history, zones, metric=metric, min_posts=min_posts, min_per_slot=min_per_slot
            )
        except TooLittleData as exc:
            raise Refused(f"{exc}; not guessing") from None
        slots: list[str] = []
        if top is not None and account is not None:
            slots = as_daily_slots(ranked, top)
            source = f"best-times {metric} n={sum(s.posts for s in ranked)}"
            async with c.pool.acquire() as conn:
                await store.write_slots(conn, platform, account, slots, source)
        return ranked, slots

    ranked, slots = _run(app, action)
    if as_json:
        emit_json({"slots": [s.to_json() for s in ranked], "written": slots})
        return
    from rich.table import Table

    table = Table(title=f"Best times on {platform} by {metric}", title_justify="left")
    for col in ("rank", "slot (local)", f"mean {metric}", "posts"):
        table.add_column(col, justify="left" if col == "slot (local)" else "right")
    for i, s in enumerate(ranked[:24], 1):
        table.add_row(str(i), s.label, _number(s.mean), str(s.posts))
    console().print(table)
    if slots:
        click.echo(f"posting slots of {platform}/{account}: {', '.join(slots)}")


# ------------------------------------------------------------------ export


@analytics.command()
@click.option("--csv", "fmt", flag_value="csv", default=True, help="CSV (the default).")
@click.option("--json", "fmt", flag_value="json", help="JSON, raw fields included.")
@click.option("--platform", "-p")
@click.option("--start-date", type=DAY)
@click.option("--end-date", type=DAY)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Default: stdout.")
@pass_app
def export(
    app: AppContext,
    fmt: str,
    platform: str | None,
    start_date: datetime | None,
    end_date: datetime | None,
    output: str | None,
) -> None:
    """Every stored post snapshot (not available = empty, never 0)."""
    from pellacia.analytics.summary import export_csv, export_json

    async def action(c: Collector) -> list[dict[str, Any]]:
        from pellacia.store import analytics as store

        _check_platform(c, platform)
        async with c.pool.acquire() as conn:
            return await store.snapshots(
                conn, platform=platform, start=_day(start_date), end=_day(end_date)
            )

    rows = _run(app, action)
    text = export_json(rows) if fmt == "json" else export_csv(rows)
    if output:
        with open(output, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    else:
        click.echo(text, nl=False)


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None
