"""Quota budgets and announced rate-limit blocks, shared by every worker.

A platform declares ``QuotaBudget``s (``Platform.quotas``). Before a delivery
is claimed, :func:`reserve` takes ``cost_per_delivery`` from each budget in the
``rate_limits`` table (row-locked, so N workers on N machines share one
allowance). A budget that would be exceeded is not a failure: the delivery
stays queued until the window resets, with ``quota:<budget>`` as its reason.

Windows either roll (``budget.window``; reservations are logged in
``rate_limit_usage``) or reset at local midnight of ``budget.reset_timezone``
(UTC when unset). Midnight is computed with ``zoneinfo`` on the local date, so
23- and 25-hour days around DST changes come out right.

:func:`block` records a reset the platform announced (``RateLimited``); the
claim path leaves that account alone until then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from pellacia.contract import QuotaBudget

#: ``account`` value of a block that covers every account of a platform
ALL_ACCOUNTS = "*"


@dataclass(frozen=True)
class QuotaWait:
    """A budget that cannot take one more delivery before ``until``."""

    budget: str
    until: datetime

    @property
    def reason(self) -> str:
        return f"quota:{self.budget}"


def bucket_for(platform: str, account: str, budget: QuotaBudget) -> str:
    """The ``rate_limits.bucket`` key of ``budget`` for this account (or app)."""
    name = budget.name if budget.name.startswith(f"{platform}:") else f"{platform}:{budget.name}"
    return f"{name}:{account if budget.per_account else ALL_ACCOUNTS}"


def block_bucket(platform: str, account: str) -> str:
    """The ``rate_limits.bucket`` key of an announced block."""
    return f"block:{platform}:{account}"


def reset_window(budget: QuotaBudget, now: datetime) -> tuple[datetime, datetime]:
    """The [start, end) of the fixed window holding ``now``: local midnight to midnight."""
    zone = ZoneInfo(budget.reset_timezone or "UTC")
    local_day = now.astimezone(zone).date()
    # Combine the *date* with midnight in the zone: DST-correct day lengths.
    start = datetime.combine(local_day, time(0), tzinfo=zone)
    end = datetime.combine(local_day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


async def _lock_bucket(conn: Any, bucket: str, now: datetime) -> Any:
    await conn.execute(
        "INSERT INTO rate_limits (bucket, window_start) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        bucket,
        now,
    )
    return await conn.fetchrow(
        "SELECT used, window_start, window_end FROM rate_limits WHERE bucket = $1 FOR UPDATE",
        bucket,
    )


async def _check_fixed(
    conn: Any, bucket: str, budget: QuotaBudget, now: datetime
) -> tuple[datetime | None, Any]:
    row = await _lock_bucket(conn, bucket, now)
    used = row["used"]
    start, end = row["window_start"], row["window_end"]
    if end is None or now >= end or now < start:
        used = 0
        start, end = reset_window(budget, now)
    if used + budget.cost_per_delivery > budget.limit:
        return end, None
    return None, (bucket, used + budget.cost_per_delivery, start, end)


async def _check_rolling(
    conn: Any, bucket: str, budget: QuotaBudget, now: datetime
) -> tuple[datetime | None, Any]:
    assert budget.window is not None
    await _lock_bucket(conn, bucket, now)
    horizon = now - budget.window
    await conn.execute(
        "DELETE FROM rate_limit_usage WHERE bucket = $1 AND at <= $2", bucket, horizon
    )
    rows = await conn.fetch(
        "SELECT at, cost FROM rate_limit_usage WHERE bucket = $1 ORDER BY at", bucket
    )
    used = sum(r["cost"] for r in rows)
    if used + budget.cost_per_delivery <= budget.limit:
        return None, ("rolling", bucket, used + budget.cost_per_delivery)
    # Room appears once enough of the oldest reservations have left the window.
    for r in rows:
        used -= r["cost"]
        if used + budget.cost_per_delivery <= budget.limit:
            return r["at"] + budget.window, None
    return now + budget.window, None


async def reserve(
    conn: Any,
    *,
    platform: str,
    account: str,
    budgets: Sequence[QuotaBudget],
    now: datetime,
    delivery_id: UUID | None = None,
) -> QuotaWait | None:
    """Take one delivery's cost from every budget, or none of them.

    Must run inside the claim transaction (rows stay locked until it ends).
    Returns ``None`` when reserved, else the budget that is exhausted and when
    it has room again.
    """
    pending: list[Any] = []
    for budget in budgets:
        bucket = bucket_for(platform, account, budget)
        if budget.window is not None:
            until, plan = await _check_rolling(conn, bucket, budget, now)
        else:
            until, plan = await _check_fixed(conn, bucket, budget, now)
        if until is not None:
            return QuotaWait(budget=budget.name, until=until)
        pending.append((budget, plan))
    for budget, plan in pending:
        if plan[0] == "rolling":
            _, bucket, used = plan
            await conn.execute(
                "INSERT INTO rate_limit_usage (bucket, at, cost, delivery_id) VALUES ($1, $2, $3, $4)",
                bucket,
                now,
                budget.cost_per_delivery,
                delivery_id,
            )
            await conn.execute(
                "UPDATE rate_limits SET used = $2, updated_at = now() WHERE bucket = $1",
                bucket,
                used,
            )
        else:
            bucket, used, start, end = plan
            await conn.execute(
                "UPDATE rate_limits SET used = $2, window_start = $3, window_end = $4,"
                " updated_at = now() WHERE bucket = $1",
                bucket,
                used,
                start,
                end,
            )
    return None


async def block(conn: Any, *, platform: str, account: str, until: datetime, reason: str) -> None:
    """Keep every delivery of (platform, account) queued until ``until``.

    Called by the executor when a platform announces a reset (``RateLimited``).
    ``account="*"`` blocks the whole platform (an app-wide limit). A later
    block never shortens an earlier one.
    """
    await conn.execute(
        """
        INSERT INTO rate_limits (bucket, window_start, blocked_until, reason)
        VALUES ($1, now(), $2, $3)
        ON CONFLICT (bucket) DO UPDATE SET
            blocked_until = GREATEST(rate_limits.blocked_until, EXCLUDED.blocked_until),
            reason = CASE WHEN rate_limits.blocked_until IS NULL
                            OR EXCLUDED.blocked_until >= rate_limits.blocked_until
                          THEN EXCLUDED.reason ELSE rate_limits.reason END,
            updated_at = now()
        """,
        block_bucket(platform, account),
        until,
        reason,
    )
    # Waiting workers recompute their next wake-up (the block may end earlier
    # than a sleep they planned, or later).
    await conn.execute("SELECT pg_notify('pellacia_queue', '')")


async def active_block(
    conn: Any, platform: str, account: str, now: datetime
) -> tuple[datetime, str | None] | None:
    """The block on (platform, account) in force at ``now``, if any."""
    row = await conn.fetchrow(
        "SELECT blocked_until, reason FROM rate_limits WHERE bucket = ANY($1::text[])"
        " AND blocked_until > $2 ORDER BY blocked_until DESC LIMIT 1",
        [block_bucket(platform, account), block_bucket(platform, ALL_ACCOUNTS)],
        now,
    )
    return None if row is None else (row["blocked_until"], row["reason"])
