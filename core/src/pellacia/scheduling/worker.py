"""The worker: claims due deliveries and runs each through the executor.

One loop per process, safe to run on many machines against one PostgreSQL:

* claims up to its free slots through :func:`pellacia.store.queue.claim`
  (priority, spacing, breaking pause, quotas, leases all live there);
* idles without polling: it ``LISTEN``s on :data:`~pellacia.store.queue.QUEUE_CHANNEL`
  and otherwise sleeps (on the :class:`~pellacia.clock.Clock`) exactly until
  :func:`~pellacia.store.queue.next_due`;
* runs each claim in its own task; a heartbeat renews all its leases every
  third of the lease; a sweep returns other workers' expired leases to the queue
  (both periodic timers on an in-memory APScheduler, where later timers such as
  daily analytics or token refresh plug in with :meth:`Worker.add_timer`);
* on a pre-emption notice for a delivery it holds (breaking news on the same
  account) it sets ``stop_reason="preempted"`` and cancels the task: the
  executor checkpoints it as ``suspended``;
* :meth:`Worker.stop` (SIGTERM/SIGINT) stops claiming, cancels in-flight tasks
  with ``stop_reason="shutdown"`` so they checkpoint, releases whatever lease
  is left, and returns;
* while PostgreSQL is away it keeps running: it says so once (and once when
  it is back), retries every :data:`~pellacia.store.pool.OUTAGE_RETRY_SECONDS`
  at most, listens again on a new connection, and hands the runs the outage
  cut short back to the queue (their tries closed as ``database lost``, a
  publish in doubt reconciled by the next claimer).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import socket
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

from pellacia.log import get_logger
from pellacia.store import deliveries, queue
from pellacia.store.models import ClaimedDelivery, RunControl
from pellacia.store.pool import OUTAGE_RETRY_SECONDS, database_health, is_unavailable

if TYPE_CHECKING:
    import asyncpg

    from pellacia.clock import Clock
    from pellacia.config import Settings
    from pellacia.contract import QuotaBudget
    from pellacia.delivery.executor import ProgressCallback
    from pellacia.plugins import Registry

log = get_logger("pellacia.worker")

Runner = Callable[[ClaimedDelivery, RunControl], Coroutine[Any, Any, None]]

#: how often the lease sweep runs (seconds)
SWEEP_SECONDS = 5.0
#: how long in-flight tasks get to checkpoint on shutdown
SHUTDOWN_GRACE = 20.0
#: pause after a failed claim (database gone, deadlock victim) before trying again
ERROR_BACKOFF = 1.0
#: the outcome of tries a database outage cut short
DATABASE_LOST = "database lost"


def make_worker_id() -> str:
    """``hostname:pid:random`` — unique across machines and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _guarded(name: str, func: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
    """A timer job that logs its failures and ends quietly when the worker stops."""

    async def job() -> None:
        try:
            await func()
        except asyncio.CancelledError:
            return  # the scheduler is shutting down
        except Exception as exc:
            if is_unavailable(exc):  # said once for the whole outage, not per timer run
                database_health().lost(exc, where=f"timer {name}")
            else:
                log.warning("timer failed", timer=name, error=str(exc))

    return job


@dataclass
class _Held:
    task: asyncio.Task[None]
    control: RunControl = field(default_factory=RunControl)


class Worker:
    """Claims and runs deliveries until :meth:`stop` (or, with ``once``, until idle).

    The same worker runs behind ``pellacia-dist worker`` and ``upload --wait``
    (which stops it once its post's deliveries are final, and passes
    ``on_progress`` for its progress bars: ``(delivery_id, sent, total)``).
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        clock: Clock,
        *,
        runner: Runner | None = None,
        registry: Registry | None = None,
        concurrency: int = 4,
        worker_id: str | None = None,
        sweep_seconds: float = SWEEP_SECONDS,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.clock = clock
        self.registry = registry
        self.concurrency = max(1, concurrency)
        self.worker_id = worker_id or make_worker_id()
        self.sweep_seconds = sweep_seconds
        self._runner = runner
        self._on_progress = on_progress
        self.held: dict[uuid.UUID, _Held] = {}
        self.claimed_total = 0
        self.health = database_health()
        #: deliveries whose run a database outage ended; handed back once it is back
        self.cut_short: set[uuid.UUID] = set()
        self._listener: asyncpg.Connection | None = None
        self._dead_listener: asyncpg.Connection | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._timers: list[tuple[str, Callable[[], Awaitable[Any]], dict[str, Any]]] = []
        #: set once the worker listens and is about to claim (tests wait on it)
        self.ready = asyncio.Event()

    # ----------------------------------------------------------------- public

    def add_timer(self, name: str, func: Callable[[], Awaitable[Any]], **trigger: Any) -> None:
        """Run ``func`` periodically while the worker runs (APScheduler interval
        or cron trigger keywords, e.g. ``seconds=30`` or ``hour=3``); for daily
        analytics, token refresh and the like."""
        self._timers.append((name, func, trigger))

    def stop(self) -> None:
        """Ask the worker to shut down gracefully (signal handlers call this)."""
        self._stopping.set()

    async def run(self, *, once: bool = False) -> None:
        """The main loop; with ``once``, run what is due now and return when idle."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        runner = self._runner or self._default_runner()
        scheduler = AsyncIOScheduler(timezone=UTC)
        try:
            await self._listen()
            scheduler.add_job(
                _guarded("heartbeat", self._heartbeat),
                "interval",
                seconds=self.settings.lease_seconds / 3,
                id="heartbeat",
                max_instances=1,
                coalesce=True,
            )
            scheduler.add_job(
                _guarded("lease-sweep", self.sweep),
                "interval",
                seconds=self.sweep_seconds,
                id="lease-sweep",
                max_instances=1,
                coalesce=True,
            )
            for name, func, trigger in self._timers:
                kind = "cron" if {"hour", "minute", "day_of_week"} & set(trigger) else "interval"
                scheduler.add_job(
                    _guarded(name, func), kind, id=name, max_instances=1, coalesce=True, **trigger
                )
            scheduler.start()
            await self.sweep()
            log.info("worker started", worker=self.worker_id, concurrency=self.concurrency)
            self.ready.set()
            await self._loop(runner, once)
        finally:
            if scheduler.running:
                scheduler.shutdown(wait=False)
            await self._shutdown()
            await self._unlisten()
            log.info("worker stopped", worker=self.worker_id, claimed=self.claimed_total)

    async def sweep(self) -> list[uuid.UUID]:
        """Return expired leases (of any worker) to the queue, closing the tries
        their dead holders left open (``worker lost``).

        This worker's own leases are renewed first: after a database outage
        longer than a lease they look expired, yet their runs are alive here;
        and the runs the outage ended go back as ``database lost``, not as lost
        workers."""
        if self.cut_short:
            await self._hand_back()
        await self._heartbeat()
        async with self.pool.acquire() as conn:
            recovered = await queue.recover_expired(conn, self.clock.now())
            if recovered:
                await deliveries.close_lost_attempts(conn, recovered, self.clock.now())
        if recovered:
            log.warning("recovered expired leases", deliveries=[str(i) for i in recovered])
        return recovered

    # ------------------------------------------------------------------- loop

    async def _loop(self, runner: Runner, once: bool) -> None:
        backoff = ERROR_BACKOFF
        while not self._stopping.is_set():
            self._wake.clear()
            free = self.concurrency - len(self.held)
            claimed: list[ClaimedDelivery] = []
            delay: float | None = None
            try:
                if self._listener is None:
                    await self._listen()  # the old connection died with the server
                    self._wake.set()  # notifications sent meanwhile are lost: look now
                if self.cut_short:
                    await self._hand_back()
                if free > 0:
                    claimed = await self._claim(free)
                    self.health.ok()
                    for item in claimed:
                        self._start(runner, item)
                    if len(claimed) == free:
                        continue  # there may be more due right now
                    if once:
                        if not self.held:
                            return
                    else:
                        delay = await self._idle_delay()
                backoff = ERROR_BACKOFF
            except Exception as exc:
                if is_unavailable(exc):
                    self.health.lost(exc, where="worker")
                    delay, backoff = backoff, min(backoff * 2, OUTAGE_RETRY_SECONDS)
                elif isinstance(exc, TimeoutError | OSError) or type(exc).__module__.startswith(
                    "asyncpg"
                ):  # deadlock victim, serialization failure, a slow server, ...
                    log.warning("claim failed; retrying", error=str(exc))
                    delay = ERROR_BACKOFF
                else:
                    raise
            await self._wait(delay)

    async def _claim(self, free: int) -> list[ClaimedDelivery]:
        async with self.pool.acquire() as conn:
            claimed: list[ClaimedDelivery] = await queue.claim(
                conn,
                worker_id=self.worker_id,
                now=self.clock.now(),
                lease_seconds=self.settings.lease_seconds,
                limit=free,
                spacing=self.settings.spacing_for,
                quotas_for=self._quotas,
            )
        self.claimed_total += len(claimed)
        return claimed

    async def _idle_delay(self) -> float | None:
        """Seconds until the next delivery can go (None: wait for a wake-up)."""
        now = self.clock.now()
        async with self.pool.acquire() as conn:
            due = await queue.next_due(conn, now)
        return None if due is None else max(0.0, (due - now).total_seconds())

    async def _wait(self, delay: float | None) -> None:
        waits: list[asyncio.Task[Any]] = [
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(self._stopping.wait()),
        ]
        if delay is not None:
            waits.append(asyncio.ensure_future(self.clock.sleep(delay)))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    def _start(self, runner: Runner, claimed: ClaimedDelivery) -> None:
        control = RunControl()
        task = asyncio.create_task(runner(claimed, control), name=f"delivery-{claimed.id}")
        self.held[claimed.id] = _Held(task, control)
        task.add_done_callback(functools.partial(self._done, claimed.id))
        log.info(
            "claimed",
            delivery=str(claimed.id),
            platform=claimed.platform,
            account=claimed.account,
            breaking=claimed.priority > 0,
            previous=claimed.previous_state.value,
        )

    def _done(self, delivery_id: uuid.UUID, task: asyncio.Task[None]) -> None:
        if (held := self.held.get(delivery_id)) is not None and held.task is task:
            self.held.pop(delivery_id)
        error = None if task.cancelled() else task.exception()
        if error is not None and is_unavailable(error):
            # its lease and open try stay as they are until the database is back
            self.cut_short.add(delivery_id)
            self.health.lost(error, where="delivery")
            log.info("delivery run cut short by the database outage", delivery=str(delivery_id))
        elif error is not None:
            log.error("delivery run crashed", delivery=str(delivery_id), error=error)
        self._wake.set()  # a slot is free

    async def _hand_back(self) -> None:
        """Requeue the deliveries whose run the outage ended (this worker still
        holds their lease), closing their open tries as ``database lost``."""
        ids = list(self.cut_short)
        async with self.pool.acquire() as conn:
            released = await queue.release(
                conn, ids, self.worker_id, reason="database outage: run cut short"
            )
            # only tries of leases still ours: another worker may have taken the rest
            await deliveries.close_lost_attempts(
                conn, released, self.clock.now(), outcome=DATABASE_LOST
            )
        self.cut_short.difference_update(ids)
        if released:
            log.info("handed back after the outage", deliveries=[str(i) for i in released])

    # -------------------------------------------------------------- listeners

    async def _listen(self) -> None:
        """LISTEN for wake-ups and pre-emptions on a connection of its own."""
        await self._unlisten()
        conn = await self.pool.acquire()
        try:
            await conn.add_listener(queue.QUEUE_CHANNEL, self._on_queue)
            await conn.add_listener(queue.PREEMPT_CHANNEL, self._on_preempt)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.pool.release(conn)
            raise
        # the server going away ends this connection: the loop listens again
        conn.add_termination_listener(self._on_listener_lost)
        self._listener = conn

    def _on_listener_lost(self, _conn: Any) -> None:
        self._wake.set()
        if self._listener is not None:  # asyncpg took the dead connection back already
            self._listener, self._dead_listener = None, self._listener

    async def _unlisten(self) -> None:
        conn, self._listener = self._listener, None
        conn = conn or self._dead_listener
        self._dead_listener = None
        if conn is None:
            return
        with contextlib.suppress(Exception):  # a dead connection has nothing to remove
            conn.remove_termination_listener(self._on_listener_lost)
            await conn.remove_listener(queue.QUEUE_CHANNEL, self._on_queue)
            await conn.remove_listener(queue.PREEMPT_CHANNEL, self._on_preempt)
        with contextlib.suppress(Exception):
            await self.pool.release(conn)

    def _on_queue(self, *_: Any) -> None:
        self._wake.set()

    def _on_preempt(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        with contextlib.suppress(ValueError):
            held = self.held.get(uuid.UUID(payload))
            if held is not None and not held.task.done():
                log.info("pre-empted by breaking news", delivery=payload)
                held.control.stop_reason = "preempted"
                held.task.cancel()

    # ------------------------------------------------------------------ timers

    async def _heartbeat(self) -> None:
        # a settled run released its lease with its final state; it only sends its alert
        ids = [did for did, h in self.held.items() if not h.control.settled]
        if not ids:
            return
        until = self.clock.now() + timedelta(seconds=self.settings.lease_seconds)
        async with self.pool.acquire() as conn:
            kept = set(await queue.renew(conn, ids, self.worker_id, until))
        for did in ids:
            held = self.held.get(did)
            if did not in kept and held is not None and not held.task.done():
                # Someone else owns it now (our lease expired): stop touching it.
                log.warning("lease lost", delivery=str(did))
                held.control.stop_reason = "shutdown"
                held.task.cancel()

    # --------------------------------------------------------------- shutdown

    async def _shutdown(self) -> None:
        held = list(self.held.items())
        for _, h in held:
            if h.control.settled:
                continue  # already final, sending its alert: let it finish (within the grace)
            if h.control.stop_reason is None:
                h.control.stop_reason = "shutdown"
            h.task.cancel()
        if held:
            await asyncio.wait([h.task for _, h in held], timeout=SHUTDOWN_GRACE)
        ids = [did for did, _ in held]
        if not ids and not self.cut_short:
            return
        try:
            if self.cut_short:
                await self._hand_back()
            async with self.pool.acquire() as conn:
                released = await queue.release(conn, ids, self.worker_id)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            # the lease sweep of the next worker to run returns them
            log.warning("leases left to expire: the database is unavailable", error=str(exc))
            return
        if released:
            log.info("released leases", deliveries=[str(i) for i in released])

    # ------------------------------------------------------------------ wiring

    def _quotas(self, platform: str) -> Sequence[QuotaBudget]:
        if self.registry is None:
            return ()
        found = self.registry.platforms.get(platform)
        budgets = tuple(getattr(found, "quotas", ()) or ()) if found is not None else ()
        # per-call budgets are spent by the plugin at each call (ctx.spend), not at claim
        return tuple(b for b in budgets if not getattr(b, "per_call", False))

    def _default_runner(self) -> Runner:
        from pellacia.alerts import AlertDispatcher
        from pellacia.delivery.executor import DeliveryExecutor
        from pellacia.plugins import get_registry

        registry = self.registry or get_registry(self.settings.plugins)
        self.registry = registry
        executor = DeliveryExecutor(
            self.pool,
            registry,
            self.settings,
            self.clock,
            worker_id=self.worker_id,
            alerts=AlertDispatcher(registry.alert_sinks, self.settings.alerts.min_level),
            on_progress=self._on_progress,
        )
        return executor.run
