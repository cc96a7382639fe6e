"""``upload --wait`` without a separate worker: an in-process worker plus a watcher.

The local worker claims through the same queue as ``pellacia-dist worker``
(priority, spacing, quotas, leases all apply), so running it beside real
workers is safe: each delivery is claimed by exactly one of them. It renews
its leases, and on exit hands anything unfinished back to the queue with its
upload state.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pellacia.delivery.executor import DeliveryExecutor, ProgressCallback
from pellacia.store import deliveries as delivery_store
from pellacia.store.models import FINAL, ClaimedDelivery, DeliveryState, RunControl

if TYPE_CHECKING:
    import asyncpg

    from pellacia.alerts import AlertDispatcher
    from pellacia.clock import Clock
    from pellacia.config import Settings
    from pellacia.plugins import Registry

POLL_SECONDS = 0.3


@dataclass(frozen=True)
class DeliveryView:
    """One delivery as ``--wait`` shows it."""

    id: uuid.UUID
    platform: str
    account: str
    state: str
    bytes_sent: int
    bytes_total: int
    wait_reason: str | None
    due_at: datetime
    remote_url: str | None
    last_error: str | None
    outcome_unknown: bool
    manual_package: str | None

    @property
    def final(self) -> bool:
        return DeliveryState(self.state) in FINAL

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "platform": self.platform,
            "account": self.account,
            "state": self.state,
            "bytes_sent": self.bytes_sent,
            "bytes_total": self.bytes_total,
            "wait_reason": self.wait_reason,
            "due_at": self.due_at.isoformat(),
            "remote_url": self.remote_url,
            "last_error": self.last_error,
            "outcome_unknown": self.outcome_unknown,
            "manual_package": self.manual_package,
        }


async def snapshot(pool: asyncpg.Pool, post_id: uuid.UUID) -> list[DeliveryView]:
    async with pool.acquire() as conn:
        rows = await delivery_store.of_post(conn, post_id)
    return [
        DeliveryView(
            id=r["id"],
            platform=r["platform"],
            account=r["account"],
            state=r["state"],
            bytes_sent=r["bytes_sent"] or 0,
            bytes_total=r["bytes_total"] or 0,
            wait_reason=r["wait_reason"],
            due_at=r["due_at"],
            remote_url=r["remote_url"],
            last_error=r["last_error"],
            outcome_unknown=r["outcome_unknown"],
            manual_package=r["manual_package"],
        )
        for r in rows
    ]


def worker_name() -> str:
    return f"local:{socket.gethostname()}:{os.getpid()}"


class LocalWorker:
    """A small in-process worker (claims via ``pellacia.store.queue``)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        registry: Registry,
        settings: Settings,
        clock: Clock,
        *,
        alerts: AlertDispatcher | None = None,
        on_progress: ProgressCallback | None = None,
        concurrency: int = 4,
    ) -> None:
        self.pool = pool
        self.registry = registry
        self.settings = settings
        self.clock = clock
        self.worker_id = worker_name()
        self.executor = DeliveryExecutor(
            pool,
            registry,
            settings,
            clock,
            worker_id=self.worker_id,
            alerts=alerts,
            on_progress=on_progress,
        )
        self.concurrency = concurrency
        self.running: dict[uuid.UUID, tuple[asyncio.Task[None], RunControl]] = {}

    def _quotas(self, platform: str) -> Any:
        found = self.registry.platforms.get(platform)
        return found.quotas if found is not None else ()

    async def _claim(self) -> list[ClaimedDelivery]:
        from pellacia.store import queue

        free = self.concurrency - len(self.running)
        if free <= 0:
            return []
        async with self.pool.acquire() as conn:
            return await queue.claim(
                conn,
                worker_id=self.worker_id,
                now=self.clock.now(),
                lease_seconds=self.settings.lease_seconds,
                limit=free,
                spacing=self.settings.spacing_for,
                quotas_for=self._quotas,
            )

    async def _renew(self) -> None:
        from pellacia.store import queue

        if not self.running:
            return
        until = self.clock.now() + timedelta(seconds=self.settings.lease_seconds)
        async with self.pool.acquire() as conn:
            await queue.renew(conn, list(self.running), self.worker_id, until)

    async def _sweep(self) -> None:
        """Return deliveries whose worker died (lease expired) to the queue."""
        from pellacia.store import queue

        async with self.pool.acquire() as conn:
            await queue.recover_expired(conn, self.clock.now())

    async def run(self, done: Callable[[], bool]) -> None:
        """Claim and run deliveries until ``done()`` and nothing is in flight."""
        last_renew = self.clock.monotonic()
        await self._sweep()
        try:
            while True:
                for did, (task, _) in list(self.running.items()):
                    if task.done():
                        del self.running[did]
                        if not task.cancelled() and task.exception() is not None:
                            raise task.exception()  # type: ignore[misc]
                if done() and not self.running:
                    return
                for claimed in await self._claim():
                    control = RunControl()
                    task = asyncio.create_task(self.executor.run(claimed, control))
                    self.running[claimed.id] = (task, control)
                if self.clock.monotonic() - last_renew >= self.settings.lease_seconds / 3:
                    await self._renew()
                    await self._sweep()
                    last_renew = self.clock.monotonic()
                await asyncio.sleep(POLL_SECONDS)
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Hand unfinished deliveries back to the queue (upload state kept)."""
        for task, control in self.running.values():
            control.stop_reason = "shutdown"
            task.cancel()
        for task, _ in self.running.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.running:
            from pellacia.store import queue

            # anything the executor could not checkpoint goes back to the queue
            with contextlib.suppress(Exception):
                async with self.pool.acquire() as conn:
                    await queue.release(conn, list(self.running), self.worker_id)
        self.running.clear()


async def watch_post(
    pool: asyncpg.Pool,
    post_id: uuid.UUID,
    *,
    worker: LocalWorker | None,
    render: Callable[[list[DeliveryView]], None],
) -> list[DeliveryView]:
    """Show the post's deliveries until every one is final; runs ``worker`` meanwhile."""
    finished = False
    task = asyncio.create_task(worker.run(lambda: finished)) if worker is not None else None
    try:
        while True:
            views = await snapshot(pool, post_id)
            render(views)
            if all(v.final for v in views):
                finished = True
                break
            if task is not None and task.done():
                task.result()  # a crashed local worker surfaces here
                task = None
            await asyncio.sleep(POLL_SECONDS)
        if task is not None:
            await task
        return views
    finally:
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
