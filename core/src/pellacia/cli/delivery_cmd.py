"""``pellacia-dist upload`` and ``pellacia-dist schedule ...`` (thin: parse, call, render).

Exit status: 0 ok, 1 a delivery failed (or needs a person), 2 bad input
(nothing was written).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pellacia.cli.context import AppContext, console, emit_json, fail, json_option, pass_app

if TYPE_CHECKING:
    import asyncpg

    from pellacia.delivery.service import CreatedPost
    from pellacia.delivery.watch import DeliveryView

T = TypeVar("T")

#: deliveries ``upload --wait`` runs at once in its own process
LOCAL_CONCURRENCY = 4


def with_pool(app: AppContext, action: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    """Run ``action(pool)`` against the migrated database; map service errors to exit codes."""
    from pellacia.delivery.errors import BadInput, NotFound
    from pellacia.errors import ConfigError
    from pellacia.store.pool import connect

    async def run() -> T:
        # the local worker: a listener, a claim, heartbeats and one connection per delivery
        pool = await connect(app.settings, app.registry.migrations, max_size=LOCAL_CONCURRENCY + 4)
        try:
            return await action(pool)
        finally:
            await pool.close()

    try:
        return asyncio.run(run())
    except BadInput as exc:
        fail(str(exc), code=2)
    except NotFound as exc:
        fail(str(exc), code=2)
    except ConfigError as exc:
        fail(str(exc), code=2)
    except KeyboardInterrupt:
        fail("interrupted: unfinished deliveries are back in the queue, upload state kept", 130)
    raise AssertionError("unreachable")


def _overrides(values: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``--option youtube.privacy=unlisted`` → {"youtube": {"privacy": "unlisted"}}."""
    out: dict[str, dict[str, Any]] = {}
    for item in values:
        key, sep, value = item.partition("=")
        platform, dot, option = key.partition(".")
        if not sep or not dot or not platform or not option:
            fail(f"--option wants PLATFORM.NAME=VALUE, not {item!r}", code=2)
        out.setdefault(platform.strip().lower(), {})[option.strip()] = value
    return out


def _platform_spec(platform: str | None, platforms: str | None) -> str:
    if platform and platforms:
        fail("give --platform or --platforms, not both", code=2)
    spec = platform or platforms
    if not spec:
        fail("say where to post: --platform NAME or --platforms a,b|all", code=2)
    return spec  # type: ignore[return-value]


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--platform", "platform", metavar="NAME", help="One platform."),
        click.option(
            "--platforms", "platforms", metavar="a,b|all", help="Several platforms, or all."
        ),
        click.option(
            "--file", "file", required=True, type=click.Path(path_type=Path), help="The video."
        ),
        click.option("--title", default=None, help="Title (default: the file name)."),
        click.option("--description", default="", help="Description / caption."),
        click.option("--hashtags", default=None, help='Hashtags, e.g. "#news #world".'),
        click.option(
            "--priority",
            type=click.Choice(["normal", "breaking"]),
            default="normal",
            show_default=True,
            help="breaking jumps every queue.",
        ),
        click.option(
            "--option",
            "options",
            multiple=True,
            metavar="PLATFORM.NAME=VALUE",
            help="Per-platform option, e.g. youtube.privacy=unlisted (repeatable).",
        ),
        click.option("--test", is_flag=True, help="Post to the sandbox (needs --sandbox URL)."),
        click.option(
            "--allow-duplicate",
            is_flag=True,
            help="Accept the same file and title submitted again recently.",
        ),
        json_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _render_created(created: CreatedPost) -> None:
    from pellacia.delivery.timeparse import describe

    out = console()
    when = (
        f"scheduled for {describe(created.scheduled_at, created.timezone)}"
        if created.scheduled_at
        else "queued now"
    )
    out.print(f"post [bold]{created.id}[/bold] {when}")
    for d in created.deliveries:
        out.print(f"  {d.platform}/{d.account}  delivery {d.id}")


def _progress_renderer(as_json: bool) -> tuple[Callable[[list[DeliveryView]], None], Any]:
    """A callback drawing one bar per delivery (bytes), and the live display to close."""
    if as_json:
        return (lambda views: None), None
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TransferSpeedColumn,
    )
    from rich.table import Column

    progress = Progress(
        # names never cut; a long status (a URL, a reason) folds onto more lines
        TextColumn("{task.fields[label]}", table_column=Column(no_wrap=True, min_width=18)),
        BarColumn(bar_width=20),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[status]}", table_column=Column(overflow="fold")),
        console=console(stderr=True),
        transient=False,
    )
    tasks: dict[uuid.UUID, Any] = {}

    def status(v: DeliveryView) -> str:
        if v.state == "published":
            return f"[green]published[/green] {v.remote_url or ''}"
        if v.state == "manual":
            flag = " OUTCOME UNKNOWN" if v.outcome_unknown else ""
            return f"[yellow]manual{flag}[/yellow] {v.manual_package or ''}"
        if v.state in ("failed", "cancelled"):
            return f"[red]{v.state}[/red] {v.last_error or ''}"
        if v.wait_reason:
            return f"{v.state}: {v.wait_reason} (due {v.due_at:%H:%M:%S} UTC)"
        return v.state

    def render(views: list[DeliveryView]) -> None:
        if not progress.live.is_started:
            progress.start()
        for v in views:
            total = v.bytes_total or None
            if v.id not in tasks:
                tasks[v.id] = progress.add_task(
                    "", total=total, label=f"{v.platform}/{v.account}", status=""
                )
            progress.update(tasks[v.id], total=total, completed=v.bytes_sent, status=status(v))

    return render, progress


def _finish(views: list[DeliveryView], as_json: bool, created: CreatedPost) -> None:
    if as_json:
        emit_json({**created.to_json(), "deliveries": [v.to_json() for v in views]})
    else:
        for v in views:  # whole URLs, one a line, for copying
            if v.state == "published":
                click.echo(f"{v.platform}/{v.account}: {v.remote_url or v.state}")
    bad = [v for v in views if v.state != "published"]
    if bad:
        for v in bad:
            click.echo(f"{v.platform}/{v.account}: {v.state} — {v.last_error or ''}", err=True)
        raise SystemExit(1)


def _submit(
    app: AppContext,
    *,
    platform_spec: str,
    file: Path,
    title: str | None,
    description: str,
    hashtags: str | None,
    priority: str,
    options: tuple[str, ...],
    test: bool,
    allow_duplicate: bool,
    as_json: bool,
    wait: bool,
    local_worker: bool,
    scheduled_at: str | None = None,
    timezone: str | None = None,
    fold: int | None = None,
    allow_past: bool = False,
    force_vpn_fallback: bool = False,
) -> None:
    from pellacia.delivery.service import create_post

    overrides = _overrides(options)
    settings = app.settings
    registry = app.registry

    async def action(pool: asyncpg.Pool) -> tuple[CreatedPost, list[DeliveryView] | None]:
        created = await create_post(
            pool,
            registry,
            settings,
            file=file,
            platforms=platform_spec,
            title=title,
            description=description,
            hashtags=hashtags,
            priority=priority,
            scheduled_at=scheduled_at,
            timezone=timezone,
            test=test,
            overrides=overrides,
            fold=fold,
            allow_past=allow_past,
            allow_duplicate=allow_duplicate,
            force_vpn_fallback=force_vpn_fallback,
        )
        if not wait:
            return created, None
        if not as_json:
            _render_created(created)
        return created, await _wait(app, pool, created, as_json, local_worker)

    created, views = with_pool(app, action)
    if views is None:
        if as_json:
            emit_json(created.to_json())
        else:
            _render_created(created)
        return
    _finish(views, as_json, created)


async def _wait(
    app: AppContext, pool: asyncpg.Pool, created: CreatedPost, as_json: bool, local_worker: bool
) -> list[DeliveryView]:
    """``--wait``: progress until the post's deliveries end, run by the one worker here."""
    from pellacia.clock import SYSTEM_CLOCK
    from pellacia.delivery.watch import LiveProgress, watch_post
    from pellacia.scheduling.worker import Worker

    render, progress = _progress_renderer(as_json)
    live = LiveProgress()
    worker = (
        Worker(
            pool,
            app.settings,
            SYSTEM_CLOCK,
            registry=app.registry,
            concurrency=LOCAL_CONCURRENCY,
            on_progress=live,
        )
        if local_worker
        else None
    )
    try:
        return await watch_post(pool, created.id, worker=worker, render=render, live=live)
    finally:
        if progress is not None:
            progress.stop()


def _apply_sandbox(app: AppContext, sandbox: str | None) -> None:
    if sandbox:
        app.sandbox_url = sandbox
        app._settings = None


@click.command()
@_common
@click.option("--wait", is_flag=True, help="Show progress until every delivery ends.")
@click.option(
    "--local-worker/--no-local-worker",
    default=True,
    show_default=True,
    help="With --wait: run deliveries in this process too (safe beside other workers).",
)
@click.option(
    "--force-vpn-fallback",
    is_flag=True,
    help="Start at the api+vpn layer (the direct API is known to be blocked).",
)
@click.option("--sandbox", "sandbox", metavar="URL", help="Sandbox URL for --test.")
@pass_app
def upload(
    app: AppContext,
    platform: str | None,
    platforms: str | None,
    file: Path,
    title: str | None,
    description: str,
    hashtags: str | None,
    priority: str,
    options: tuple[str, ...],
    test: bool,
    allow_duplicate: bool,
    as_json: bool,
    wait: bool,
    local_worker: bool,
    force_vpn_fallback: bool,
    sandbox: str | None,
) -> None:
    """Publish a video now (after the account's spacing), on one or more platforms.

    \b
    Examples:
      pellacia-dist upload --platform youtube --file clip.mp4 --title "Flood" --wait
      pellacia-dist upload --platforms all --file clip.mp4 --priority breaking
      pellacia-dist --sandbox http://127.0.0.1:8765 upload --platforms all --file clip.mp4 --test --wait

    With --wait the command shows a progress bar per platform until each
    delivery is published, failed or handed to the manual queue, running the
    deliveries itself unless --no-local-worker (a `pellacia-dist worker` may
    run beside it: each delivery is claimed once). Exit 0 when every delivery
    was published, 1 when one failed or needs a person, 2 on bad input.
    """
    _apply_sandbox(app, sandbox)
    _submit(
        app,
        platform_spec=_platform_spec(platform, platforms),
        file=file,
        title=title,
        description=description,
        hashtags=hashtags,
        priority=priority,
        options=options,
        test=test,
        allow_duplicate=allow_duplicate,
        as_json=as_json,
        wait=wait,
        local_worker=local_worker,
        force_vpn_fallback=force_vpn_fallback,
    )


@click.group(invoke_without_command=True)
@_common
@click.option(
    "--at",
    "at",
    metavar="'YYYY-MM-DD HH:MM' | next-slot",
    help="Local time to publish at, or next-slot: the accounts' next free posting slot.",
)
@click.option(
    "--timezone",
    "timezone",
    metavar="ZONE",
    help="IANA time zone of --at, e.g. America/New_York (default from config).",
)
@click.option(
    "--fold",
    type=click.IntRange(0, 1),
    default=None,
    help="For a time that happens twice (clocks go back): 0 = first, 1 = second.",
)
@click.option("--allow-past", is_flag=True, help="Accept a time in the past (posts at once).")
@click.option("--sandbox", "sandbox", metavar="URL", help="Sandbox URL for --test.")
@click.pass_context
def schedule(
    ctx: click.Context,
    platform: str | None,
    platforms: str | None,
    file: Path | None,
    title: str | None,
    description: str,
    hashtags: str | None,
    priority: str,
    options: tuple[str, ...],
    test: bool,
    allow_duplicate: bool,
    as_json: bool,
    at: str | None,
    timezone: str | None,
    fold: int | None,
    allow_past: bool,
    sandbox: str | None,
) -> None:
    """Schedule a video for a local time in a named time zone; list or cancel.

    \b
    Examples:
      pellacia-dist schedule --platforms youtube,tiktok --file clip.mp4 \\
          --at "2026-12-27 14:00" --timezone America/New_York
      pellacia-dist schedule --platforms youtube --file clip.mp4 --at next-slot
      pellacia-dist schedule list
      pellacia-dist schedule cancel --id 3f2a

    Times are stored in UTC. A local time that does not exist (clocks jump
    forward) is refused; one that happens twice needs --fold 0|1.
    """
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.ensure_object(AppContext)
    if not at:
        fail("schedule needs --at 'YYYY-MM-DD HH:MM' (or use `upload` to post now)", code=2)
    if file is None:  # not required by click: `schedule list|cancel` go without it
        raise click.UsageError("Missing option '--file'.", ctx)
    _apply_sandbox(app, sandbox)
    _submit(
        app,
        platform_spec=_platform_spec(platform, platforms),
        file=file,
        title=title,
        description=description,
        hashtags=hashtags,
        priority=priority,
        options=options,
        test=test,
        allow_duplicate=allow_duplicate,
        as_json=as_json,
        wait=False,
        local_worker=False,
        scheduled_at=at,
        timezone=timezone,
        fold=fold,
        allow_past=allow_past,
    )


# `schedule list` / `schedule cancel` must not require --file
for _param in schedule.params:
    if _param.name == "file":
        _param.required = False


@schedule.command("list")
@click.option("--all", "include_done", is_flag=True, help="Include finished deliveries.")
@json_option
@pass_app
def schedule_list(app: AppContext, include_done: bool, as_json: bool) -> None:
    """Scheduled and queued posts with each delivery's state, soonest first."""
    from pellacia.delivery.timeparse import describe
    from pellacia.store import posts as post_store

    async def action(pool: asyncpg.Pool) -> list[dict[str, Any]]:
        from pellacia.clock import SYSTEM_CLOCK
        from pellacia.store import queue

        async with pool.acquire() as conn:
            rows = await post_store.scheduled(conn, include_done=include_done)
            # why each waits now (spacing, breaking, blocks are computed on read)
            waits = await queue.waits(conn, SYSTEM_CLOCK.now(), [r["delivery_id"] for r in rows])
        for r in rows:
            wait = waits.get(r["delivery_id"])
            r["wait_reason"] = wait.reason if wait else None
        return rows

    rows = with_pool(app, action)
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table("post", "delivery", "platform", "title", "when (local)", "state", "why waiting")
    for r in rows:
        when = r["scheduled_at"] or r["due_at"]
        table.add_row(
            str(r["post_id"])[:8],
            str(r["delivery_id"])[:8],
            f"{r['platform']}/{r['account']}",
            r["title"],
            describe(when, r["timezone"]) if when else "now",
            r["state"],
            r["wait_reason"] or "",
        )
    out = console()
    if rows:
        out.print(table)
    else:
        out.print("nothing scheduled")


@schedule.command("cancel")
@click.option("--id", "ident", required=True, help="Post or delivery id (or its first characters).")
@json_option
@pass_app
def schedule_cancel(app: AppContext, ident: str, as_json: bool) -> None:
    """Cancel a post (all its deliveries) or one delivery not yet published."""
    from pellacia.delivery.service import cancel_delivery, cancel_post, resolve_id

    async def action(pool: asyncpg.Pool) -> list[Any]:
        kind, value = await resolve_id(pool, ident)
        if kind == "post":
            return await cancel_post(pool, value)
        return [await cancel_delivery(pool, value)]

    results = with_pool(app, action)
    if as_json:
        emit_json(
            [
                {"delivery_id": str(r.delivery_id), "platform": r.platform, "outcome": r.outcome}
                for r in results
            ]
        )
    else:
        for r in results:
            text = {
                "cancelled": "cancelled",
                "requested": "in flight: cancels at its next checkpoint",
                "publishing": "publishing right now: cannot be cancelled",
            }.get(r.outcome, f"already {r.outcome}: nothing to cancel")
            click.echo(f"{r.platform} {r.delivery_id}: {text}")
    if not any(r.outcome in ("cancelled", "requested") for r in results):
        raise SystemExit(1)
