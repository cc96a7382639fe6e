"""``pellacia-dist worker``: run the delivery engine."""

from __future__ import annotations

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

    from pellacia.clock import SYSTEM_CLOCK
    from pellacia.scheduling.worker import SWEEP_SECONDS, Worker
    from pellacia.store.pool import connect

    app.default_log_level = "info"  # a long-running process: its log is the operator's view
    settings, registry = app.settings, app.registry
    pool = await connect(settings, registry.migrations, max_size=concurrency + 4)
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
        await pool.close()
