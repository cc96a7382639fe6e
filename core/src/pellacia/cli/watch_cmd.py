"""``pellacia-dist watch DIR``: submit the production stage's items as they land."""

from __future__ import annotations

from pathlib import Path

import click

from pellacia.cli.context import AppContext, emit_json, fail, json_option, pass_app


@click.command()
@click.argument("folders", nargs=-1, type=click.Path(path_type=Path, file_okay=False))
@click.option("--once", is_flag=True, help="Scan once (complete items only), then exit.")
@json_option
@pass_app
def watch(app: AppContext, folders: tuple[Path, ...], once: bool, as_json: bool) -> None:
    """Turn each NAME.mp4 + NAME.json dropped in DIR into one post, once.

    \b
      pellacia-dist watch /srv/newsroom/out
      pellacia-dist watch /srv/newsroom/out --once --json

    Items become posts once complete (the JSON written last, or the video
    unchanged for [intake] settle_seconds); each is submitted exactly once,
    across restarts. Bad items go to DIR/rejected/ with NAME.error.txt
    naming every problem, plus an alert; good ones to DIR/accepted/.
    Without DIR, the [intake] folders of the config are watched.
    """
    import asyncio

    from pellacia.errors import ConfigError

    try:
        import watchfiles  # noqa: F401
    except ModuleNotFoundError:
        fail("watch needs watchfiles: pip install 'pellacia-dist[api]'", code=2)
    targets = list(folders) or list(app.settings.intake.folders)
    if not targets:
        fail("name a folder to watch, or set [intake] folders in the config", code=2)
    for folder in targets:
        if not folder.is_dir():
            fail(f"{folder} is not a folder", code=2)
    app.default_log_level = "info"
    try:
        results = asyncio.run(_run(app, targets, once))
    except ConfigError as exc:
        fail(str(exc), code=2)
    if once and as_json:
        emit_json(results)


async def _run(app: AppContext, folders: list[Path], once: bool) -> dict[str, list[str]]:
    import asyncio
    import signal

    from pellacia.alerts import AlertDispatcher
    from pellacia.clock import SYSTEM_CLOCK
    from pellacia.intake.folder import FolderIntake
    from pellacia.intake.watch import watch
    from pellacia.store.pool import connect

    settings, registry = app.settings, app.registry
    pool = await connect(settings, registry.migrations, max_size=4)
    alerts = AlertDispatcher(registry.alert_sinks, settings.alerts.min_level)
    intakes = [
        FolderIntake(pool, registry, settings, f, SYSTEM_CLOCK, alerts=alerts) for f in folders
    ]
    try:
        if once:
            out: dict[str, list[str]] = {"submitted": [], "rejected": [], "waiting": []}
            for intake in intakes:
                r = await intake.scan()
                out["submitted"] += r.submitted
                out["rejected"] += r.rejected
                out["waiting"] += r.waiting
            return out
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        click.echo(f"watching {', '.join(str(i.folder) for i in intakes)}", err=True)
        await watch(
            intakes,
            rescan_seconds=settings.intake.rescan_seconds,
            settle_seconds=settings.intake.settle_seconds,
            stop=stop,
        )
        return {}
    finally:
        await pool.close()
