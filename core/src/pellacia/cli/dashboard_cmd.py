"""``pellacia-dist dashboard``: the live terminal view of the queue, accounts and alerts."""

from __future__ import annotations

import click

from pellacia.cli.account_cmd import operator
from pellacia.cli.context import AppContext, pass_app


@click.command()
@pass_app
def dashboard(app: AppContext) -> None:
    """A live terminal dashboard (works over SSH): the queue by state, accounts
    with their spacing, pause and rate limits, what waits and why, the manual
    queue, token health and recent events.

    \b
    Keys: r retry (manual queue), c cancel (waiting), p pause/resume (accounts),
          o package path (manual queue), tab next table, q quit.
    """
    import asyncio

    asyncio.run(_run(app))


async def _run(app: AppContext) -> None:
    from pellacia.dashboard.app import Dashboard
    from pellacia.dashboard.data import DatabaseSource
    from pellacia.store.pool import connect

    settings = app.settings
    pool = await connect(settings, app.registry.migrations, max_size=3)
    try:
        await Dashboard(DatabaseSource(pool, settings), who=operator()).run_async()
    finally:
        await pool.close()
