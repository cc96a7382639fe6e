"""The collector: snapshots of published posts on a cadence, within budgets.

One run (:meth:`Collector.run_once`, on the worker's timer):

1. takes the leader lock (a PostgreSQL advisory lock): with many workers on
   many machines, one collects and the others return at once;
2. starts following newly published deliveries, then reads those due now;
3. per (platform, account), in batches of the platform's ``metrics_batch_size``:
   reserves the batch's cost from the analytics budget (``store.quotas``),
   calls ``fetch_metrics``, and stores each snapshot with its next due time in
   one transaction per batch, so a run killed midway resumes with what is
   still due and refetches nothing it stored;
4. a 429 (``RateLimited``) blocks that platform's collection until the reset
   the platform announced; it is not retried before;
5. one account snapshot per day where the platform offers ``account_metrics``.

A post the platform leaves out of its answer ``removed_after_misses`` runs in
a row is marked removed and not fetched again. A metric a platform does not
report is stored absent, never 0.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pellacia.analytics import settings as analytics_settings
from pellacia.analytics.budgets import AnalyticsBudget, budget_for
from pellacia.contract import MetricsSnapshot, Platform, PlatformContext, RemotePost
from pellacia.delivery.context import Contexts
from pellacia.errors import PlatformError, RateLimited
from pellacia.log import get_logger
from pellacia.store import analytics as store
from pellacia.store import quotas

if TYPE_CHECKING:
    import aiohttp
    import asyncpg

    from pellacia.clock import Clock
    from pellacia.config import Settings
    from pellacia.plugins import Registry

log = get_logger("pellacia.analytics")

#: ``(done, total)`` posts of this run
Progress = Callable[[int, int], None]


@dataclass
class RunReport:
    """What one run did, per platform."""

    leader: bool = True
    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    #: posts handed to fetch_metrics
    fetched: collections.Counter[str] = field(default_factory=collections.Counter)
    snapshots: collections.Counter[str] = field(default_factory=collections.Counter)
    accounts: collections.Counter[str] = field(default_factory=collections.Counter)
    removed: collections.Counter[str] = field(default_factory=collections.Counter)
    rate_limited: collections.Counter[str] = field(default_factory=collections.Counter)
    #: platform -> when its budget or block lets collection go on
    waiting: dict[str, datetime] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    due: int = 0


def next_due(
    published_at: datetime, now: datetime, tiers: Sequence[tuple[timedelta, timedelta]]
) -> datetime | None:
    """When a post of this age is next due (None: past the last tier, stop)."""
    age = now - published_at
    for below, every in tiers:
        if age < below:
            return now + every
    return None


class Collector:
    """Collects metrics for every published delivery (see the module docstring)."""

    def __init__(
        self, pool: asyncpg.Pool, settings: Settings, registry: Registry, clock: Clock
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.registry = registry
        self.clock = clock
        self.conf = analytics_settings.load(settings.analytics)
        self._contexts = Contexts(pool, settings, clock)

    def platforms(self) -> list[str]:
        """Platforms analytics collects from (registered and not disabled)."""
        names = sorted(self.registry.platforms)
        return [n for n in names if self.conf.platform(n).enabled]

    async def run_once(self, on_progress: Progress | None = None) -> RunReport:
        """One collection of whatever is due now, if this process is the leader."""
        async with self.pool.acquire() as lock:
            if not await store.try_lead(lock):
                return RunReport(leader=False)
            try:
                now = self.clock.now()
                async with self.pool.acquire() as conn:
                    await store.track_new(conn, now)
                    due = await store.due(conn, now, self.platforms())
                report = await self.collect(due, on_progress=on_progress)
                await self._accounts(report)
                return report
            finally:
                await store.resign(lock)

    async def collect(
        self,
        items: Sequence[store.Tracked],
        *,
        on_progress: Progress | None = None,
        report: RunReport | None = None,
    ) -> RunReport:
        """Fetch and store ``items`` now (budgets and blocks still apply)."""
        report = report or RunReport()
        report.due += len(items)
        done = 0
        groups = itertools.groupby(items, key=lambda t: (t.platform, t.account))
        async with self._http() as http:
            for (name, account), group in groups:
                batch = list(group)
                platform = self.registry.platforms.get(name)
                if platform is not None:
                    await self._collect_account(platform, account, batch, http, report)
                done += len(batch)
                if on_progress is not None:
                    on_progress(done, len(items))
        return report

    # ------------------------------------------------------------- one account

    async def _collect_account(
        self,
        platform: Platform,
        account: str,
        items: list[store.Tracked],
        http: aiohttp.ClientSession,
        report: RunReport,
    ) -> None:
        budget = budget_for(platform, self.conf.platform(platform.name))
        if await self._blocked(platform.name, account, report):
            return
        size = budget.batch_size(platform.capabilities.metrics_batch_size)
        ctx = self._context(platform, account, http)
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            if not await self._reserve(platform.name, account, budget, len(chunk), report):
                return
            posts = [RemotePost(t.remote_id, t.remote_url, t.published_at) for t in chunk]
            report.fetched[platform.name] += len(posts)
            try:
                snapshots = await platform.fetch_metrics(posts, ctx)
            except RateLimited as exc:
                await self._block(platform.name, account, budget, exc, report)
                return
            except PlatformError as exc:
                report.errors[platform.name] = str(exc)
                log.warning("analytics fetch failed", platform=platform.name, error=str(exc))
                return
            await self._store(platform.name, chunk, snapshots, report)

    async def _reserve(
        self, name: str, account: str, budget: AnalyticsBudget, posts: int, report: RunReport
    ) -> bool:
        now = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            wait = await quotas.reserve(
                conn, platform=name, account=account, budgets=[budget.for_posts(posts)], now=now
            )
        if wait is not None:
            report.waiting[name] = min(wait.until, report.waiting.get(name, wait.until))
            log.debug("analytics budget spent", platform=name, until=wait.until.isoformat())
            return False
        report.calls[name] += budget.cost(posts)
        return True

    async def _blocked(self, name: str, account: str, report: RunReport) -> bool:
        async with self.pool.acquire() as conn:
            block = await quotas.active_block(conn, _scope(name), account, self.clock.now())
        if block is not None:
            report.waiting[name] = block[0]
        return block is not None

    async def _block(
        self,
        name: str,
        account: str,
        budget: AnalyticsBudget,
        exc: RateLimited,
        report: RunReport,
    ) -> None:
        """Pause this platform's collection until the announced reset."""
        now = self.clock.now()
        until = exc.reset_at
        if until is None and exc.retry_after is not None:
            until = now + timedelta(seconds=exc.retry_after)
        if until is None:  # nothing announced: a whole window of the budget
            until = now + (budget.budget.window or timedelta(hours=1))
        async with self.pool.acquire() as conn:
            await quotas.block(
                conn, platform=_scope(name), account=account, until=until, reason=str(exc)
            )
        report.rate_limited[name] += 1
        report.waiting[name] = until
        log.warning("analytics paused by a rate limit", platform=name, until=until.isoformat())

    async def _store(
        self,
        name: str,
        chunk: Sequence[store.Tracked],
        snapshots: Sequence[MetricsSnapshot],
        report: RunReport,
    ) -> None:
        """Store a batch's answer and plan each post's next snapshot, in one transaction."""
        now = self.clock.now()
        tiers = analytics_settings.cadence(self.conf.platform(name))
        by_id = {s.remote_id: s for s in snapshots}
        found: list[store.Snapshot] = []
        async with self.pool.acquire() as conn, conn.transaction():
            for item in chunk:
                next_at = next_due(item.published_at, now, tiers)
                snap = by_id.get(item.remote_id)
                if snap is None:
                    removed = item.misses + 1 >= self.conf.removed_after_misses
                    await store.record_miss(
                        conn, item.delivery_id, at=now, next_at=next_at, removed=removed
                    )
                    report.removed[name] += removed
                    continue
                found.append(
                    store.Snapshot(item.delivery_id, _numbers(snap.metrics), snap.raw, next_at)
                )
            await store.store_snapshots(conn, found, at=now)
        report.snapshots[name] += len(found)

    # ---------------------------------------------------------------- accounts

    async def _accounts(self, report: RunReport) -> None:
        """One account snapshot a day where the platform offers one."""
        now = self.clock.now()
        async with self.pool.acquire() as conn:
            pairs = await store.accounts_with_posts(conn, self.platforms())
        async with self._http() as http:
            for name, account in pairs:
                platform = self.registry.platforms.get(name)
                fetch = getattr(platform, "account_metrics", None)
                if platform is None or fetch is None:
                    continue
                async with self.pool.acquire() as conn:
                    if await store.account_done(conn, name, account, now.date()):
                        continue
                budget = budget_for(platform, self.conf.platform(name))
                if await self._blocked(name, account, report):
                    continue
                if not await self._reserve(name, account, budget, 0, report):
                    continue
                try:
                    metrics = await fetch(self._context(platform, account, http))
                except PlatformError as exc:
                    report.errors[name] = str(exc)
                    continue
                async with self.pool.acquire() as conn:
                    await store.store_account(
                        conn, name, account, at=now, metrics=unify_account(metrics)
                    )
                report.accounts[name] += 1

    # ------------------------------------------------------------------ wiring

    @asynccontextmanager
    async def _http(self) -> AsyncIterator[aiohttp.ClientSession]:
        from pellacia.http import client_session

        async with client_session() as http:
            yield http

    def _context(
        self, platform: Platform, account: str, http: aiohttp.ClientSession
    ) -> PlatformContext:
        from pellacia.tokens import platform_context

        return platform_context(
            platform,
            account=account,
            http=http,
            tokens=self._contexts.tokens(platform, account),
            clock=self.clock,
            settings=self.settings.plugins.get(platform.name, {}),
            sandbox_url=self.settings.sandbox_url,
            base_url=self.settings.account(platform.name, account).base_url,
        )


#: platform account fields -> unified names (the raw names are kept beside)
ACCOUNT_FIELDS = {
    "followers_count": "followers",
    "follower_count": "followers",
    "subscriberCount": "followers",
    "media_count": "posts",
    "video_count": "posts",
    "videoCount": "posts",
    "follows_count": "following",
    "following_count": "following",
}


def unify_account(metrics: Any) -> dict[str, float]:
    """Account metrics with the unified names added (followers, posts, following)."""
    numbers = _numbers(metrics)
    unified = {ACCOUNT_FIELDS[k]: v for k, v in numbers.items() if k in ACCOUNT_FIELDS}
    return {**numbers, **unified}


def _scope(platform: str) -> str:
    """The ``rate_limits`` block scope of a platform's analytics (not its publishing)."""
    return f"{platform}:analytics"


def _numbers(metrics: Any) -> dict[str, float]:
    """Only real numbers: a metric the platform did not give stays absent."""
    return {
        str(k): float(v)
        for k, v in dict(metrics).items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
