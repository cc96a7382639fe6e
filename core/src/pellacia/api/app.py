"""The FastAPI application of ``pellacia-dist serve``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from pellacia import __version__
from pellacia.api import problems
from pellacia.api.deps import Services
from pellacia.api.docs import DocsPolicy
from pellacia.api.health import Metrics, RequestMetrics
from pellacia.api.limits import BodyLimit, RateLimiter
from pellacia.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    import asyncpg

    from pellacia.config import Settings
    from pellacia.plugins import Registry

DESCRIPTION = """\
The REST API of pellacia-dist for the editorial dashboard: create posts (idempotent),
watch their deliveries, the schedule, the queue and the manual queue.
Send an API key (`pellacia-dist api-key create`) in the `X-API-Key` header.
Errors are `application/problem+json` (RFC 9457).
"""


async def _dispatch_webhooks(
    pool: asyncpg.Pool, settings: Settings, registry: Registry, clock: Clock
) -> None:
    """Send the outbox to the webhooks every ``[webhooks] interval`` (workers do it too;
    a database lock lets one process at a time)."""
    from pellacia.alerts import AlertDispatcher
    from pellacia.api.webhooks import Dispatcher
    from pellacia.log import get_logger
    from pellacia.store.pool import database_health, is_unavailable
    from pellacia.vault import vault_for

    alerts = AlertDispatcher(registry.alert_sinks, settings.alerts.min_level)
    vault = vault_for(settings)
    dispatcher = Dispatcher(pool, settings.webhooks, clock, vault=vault, alerts=alerts)
    health = database_health()
    try:
        while True:
            try:
                await dispatcher.run_once()
                health.ok()
            except Exception as exc:  # keep serving; the next pass retries
                if is_unavailable(exc):  # said once per outage, not every interval
                    health.lost(exc, where="webhooks")
                else:
                    get_logger("pellacia.webhooks").warning("webhook pass failed", error=repr(exc))
            await asyncio.sleep(settings.webhooks.interval)
    finally:
        await dispatcher.close()


async def _watch_folders(
    pool: asyncpg.Pool, settings: Settings, registry: Registry, clock: Clock, stop: asyncio.Event
) -> None:
    """The ``[intake] folders``, when configured."""
    folders = settings.intake.folders
    if not folders:
        return
    from pellacia.alerts import AlertDispatcher
    from pellacia.intake.folder import FolderIntake
    from pellacia.intake.watch import watch

    alerts = AlertDispatcher(registry.alert_sinks, settings.alerts.min_level)
    intakes = [FolderIntake(pool, registry, settings, f, clock, alerts=alerts) for f in folders]
    await watch(
        intakes,
        rescan_seconds=settings.intake.rescan_seconds,
        settle_seconds=settings.intake.settle_seconds,
        stop=stop,
    )


def create_app(
    settings: Settings,
    registry: Registry,
    *,
    clock: Clock = SYSTEM_CLOCK,
    pool: asyncpg.Pool | None = None,
) -> FastAPI:
    """The app; it opens (and closes) its own migrated pool unless given one."""
    from fastapi_offline import FastAPIOffline

    from pellacia.api.health import build_router
    from pellacia.api.routes import deliveries, hooks, manual, posts, stream, system

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = pool is None
        if pool is None:
            from pellacia.store.pool import connect

            active = await connect(settings, registry.migrations, max_size=10)
        else:
            active = pool
        limiter = RateLimiter(settings.api.rate_per_minute, settings.api.rate_burst)
        app.state.services = Services(active, settings, registry, clock, limiter)
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(_dispatch_webhooks(active, settings, registry, clock)),
            asyncio.create_task(_watch_folders(active, settings, registry, clock, stop)),
        ]
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if own:
                await active.close()

    app = FastAPIOffline(
        title="pellacia-dist",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        static_url="/docs-assets",
    )
    problems.install(app)
    for router in (
        posts.router,
        deliveries.router,
        manual.router,
        system.router,
        hooks.router,
        stream.router,
    ):
        app.include_router(router)
    app.include_router(build_router(settings.api))
    app.state.metrics = Metrics()
    app.add_middleware(DocsPolicy)
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["X-API-Key", "Idempotency-Key", "Content-Type", "Last-Event-ID"],
        )
    app.add_middleware(
        BodyLimit,
        body_bytes=settings.api.max_body_bytes,
        upload_bytes=settings.api.max_upload_bytes,
        upload_paths=(posts.UPLOAD_PATH,),
    )
    return app
