"""``pellacia-dist worker``: run the delivery engine."""

from __future__ import annotations

from typing import Any

import click

from pellacia.cli.context import AppContext, fail, pass_app


@click.command()
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(1, 256),
    default=4,
    show_default=True,
    help="Deliveries run at the same time by this process.",
)
@click.option("--once", is_flag=True, help="Run what is due now, then exit.")
@pass_app
def worker(app: AppContext, concurrency: int, once: bool) -> None:
    """Claim due deliveries and publish them, until SIGTERM/SIGINT.

    Run as many workers, on as many machines, as you like against one
    database: each delivery is claimed by exactly one of them, and spacing,
    breaking news and quota budgets hold across all of them. On SIGTERM or
    Ctrl-C uploads in flight are checkpointed and handed back to the queue.
    """
    import asyncio

    from pellacia.errors import ConfigError

    try:
        asyncio.run(_run(app, concurrency, once))
    except ConfigError as exc:
        fail(str(exc), code=2)


async def _run(app: AppContext, concurrency: int, once: bool) -> None:
    import asyncio
    import signal

    from pellacia.analytics.collector import Collector
    from pellacia.clock import SYSTEM_CLOCK
    from pellacia.scheduling.worker import SWEEP_SECONDS, Worker
    from pellacia.store.pool import connect

    app.default_log_level = "info"  # a long-running process: its log is the operator's view
    settings, registry = app.settings, app.registry
    pool = await connect(settings, registry.migrations, max_size=concurrency + 4)
    webhooks = _webhook_dispatcher(pool, settings, registry)
    try:
        worker = Worker(
            pool,
            settings,
            SYSTEM_CLOCK,
            registry=registry,
            concurrency=concurrency,
            # a dead worker's deliveries come back within about one lease
            sweep_seconds=min(SWEEP_SECONDS, settings.lease_seconds / 2),
        )
        # one leader across all workers collects analytics (advisory lock)
        collector = Collector(pool, settings, registry, SYSTEM_CLOCK)
        worker.add_timer("analytics", collector.run_once, seconds=collector.conf.interval_s)
        if webhooks is not None:
            worker.add_timer("webhooks", webhooks.run_once, seconds=settings.webhooks.interval)
        for intake in _intakes(pool, settings, registry):
            worker.add_timer(f"intake:{intake.folder}", intake.scan, seconds=_INTAKE_SECONDS)
        from pellacia.alerts.token_health import CHECK_MINUTES, TokenHealth

        # refresh tokens ahead of expiry, warn before a sign-in dies
        tokens = TokenHealth(pool, settings, registry)
        worker.add_timer("token-health", tokens.run_once, minutes=CHECK_MINUTES)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        click.echo(f"worker {worker.worker_id} running (concurrency {concurrency})", err=True)
        await worker.run(once=once)
    finally:
        if webhooks is not None:
            await webhooks.close()
        await pool.close()


def _webhook_dispatcher(pool: Any, settings: Any, registry: Any) -> Any:
    """The webhook sender, when its extra (``pellacia-dist[api]``) is installed."""
    try:
        import standardwebhooks  # noqa: F401  (the signer)

        from pellacia.api.webhooks import Dispatcher
    except ModuleNotFoundError:
        return None
    from pellacia.alerts import AlertDispatcher
    from pellacia.clock import SYSTEM_CLOCK
    from pellacia.vault import vault_for

    alerts = AlertDispatcher(registry.alert_sinks, settings.alerts.min_level)
    vault = vault_for(settings)
    return Dispatcher(pool, settings.webhooks, SYSTEM_CLOCK, vault=vault, alerts=alerts)


#: how often the worker looks at each [intake] folder (``watch``/``serve`` also react to events)
_INTAKE_SECONDS = 5.0


def _intakes(pool: Any, settings: Any, registry: Any) -> list[Any]:
    """A scanner per ``[intake] folders`` entry (none without the folders or the extra)."""
    if not settings.intake.folders:
        return []
    from pellacia.alerts import AlertDispatcher
    from pellacia.clock import SYSTEM_CLOCK
    from pellacia.intake.folder import FolderIntake

    alerts = AlertDispatcher(registry.alert_sinks, settings.alerts.min_level)
    return [
        FolderIntake(pool, registry, settings, folder, SYSTEM_CLOCK, alerts=alerts)
        for folder in settings.intake.folders
    ]
