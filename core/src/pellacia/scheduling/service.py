"""Queue services shared by the CLI (``queue status|clear|retry``) and the REST API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pellacia.delivery.errors import BadInput, NotFound
from pellacia.store import queue

CLEARABLE = ("failed", "cancelled", "manual")
RETRYABLE = ("failed", "manual")


@dataclass(frozen=True)
class AccountWindow:
    """Spacing and pause state of one (platform, account)."""

    platform: str
    account: str
    next_at: datetime | None  # next normal post allowed at (None: now)
    last_dispatch_at: datetime | None
    in_flight: int
    queued: int
    breaking_active: bool  # normal dispatch paused by breaking news
    blocked_until: datetime | None
    block_reason: str | None


@dataclass(frozen=True)
class Waiting:
    """A queued delivery that is held back, and why."""

    id: uuid.UUID
    platform: str
    account: str
    state: str
    due_at: datetime
    reason: str
    until: datetime | None


@dataclass(frozen=True)
class Budget:
    """A quota bucket's use in its current window (or an announced block)."""

    bucket: str
    used: int
    window_end: datetime | None
    blocked_until: datetime | None
    reason: str | None


@dataclass
class QueueStatus:
    """Everything ``queue status`` shows."""

    now: datetime
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # platform -> state -> n
    next_due: datetime | None = None
    accounts: list[AccountWindow] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)
    budgets: list[Budget] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "now": iso(self.now),
            "counts": self.counts,
            "next_due": iso(self.next_due),
            "accounts": [
                {
                    "platform": a.platform,
                    "account": a.account,
                    "next_at": iso(a.next_at),
                    "last_dispatch_at": iso(a.last_dispatch_at),
                    "in_flight": a.in_flight,
                    "queued": a.queued,
                    "breaking_active": a.breaking_active,
                    "blocked_until": iso(a.blocked_until),
                    "block_reason": a.block_reason,
                }
                for a in self.accounts
            ],
            "waiting": [
                {
                    "id": str(w.id),
                    "platform": w.platform,
                    "account": w.account,
                    "state": w.state,
                    "due_at": iso(w.due_at),
                    "reason": w.reason,
                    "until": iso(w.until),
                }
                for w in self.waiting
            ],
            "budgets": [
                {
                    "bucket": b.bucket,
                    "used": b.used,
                    "window_end": iso(b.window_end),
                    "blocked_until": iso(b.blocked_until),
                    "reason": b.reason,
                }
                for b in self.budgets
            ],
        }


_ACCOUNTS = """
WITH accts AS (
    SELECT DISTINCT platform, account FROM deliveries
    WHERE state IN ('pending', 'ready', 'retry_wait', 'suspended', 'claimed', 'uploading',
                    'publishing')
    UNION SELECT platform, account FROM account_slots
)
SELECT a.platform, a.account, s.next_at, s.last_dispatch_at,
    (SELECT count(*) FROM deliveries f WHERE f.platform = a.platform AND f.account = a.account
       AND f.state IN ('claimed', 'uploading', 'publishing')) AS in_flight,
    (SELECT count(*) FROM deliveries q WHERE q.platform = a.platform AND q.account = a.account
       AND q.state IN ('pending', 'ready', 'retry_wait', 'suspended')) AS queued,
    EXISTS (SELECT 1 FROM deliveries b WHERE b.platform = a.platform AND b.account = a.account
       AND b.priority > 0 AND (b.state IN ('claimed', 'uploading', 'publishing', 'retry_wait',
                                           'suspended')
                               OR (b.state IN ('pending', 'ready') AND b.due_at <= $1)))
       AS breaking_active,
    blk.blocked_until, blk.reason
FROM accts a
LEFT JOIN account_slots s ON s.platform = a.platform AND s.account = a.account
LEFT JOIN LATERAL (
    SELECT r.blocked_until, r.reason FROM rate_limits r
    WHERE r.bucket IN ('block:' || a.platform || ':' || a.account, 'block:' || a.platform || ':*')
      AND r.blocked_until > $1
    ORDER BY r.blocked_until DESC LIMIT 1
) blk ON true
ORDER BY a.platform, a.account
"""


async def queue_status(conn: Any, now: datetime) -> QueueStatus:
    """Counts per platform and state, next due time, account windows, waits, budgets."""
    await queue.refresh_waits(conn, now)
    status = QueueStatus(now=now)
    for r in await conn.fetch(
        "SELECT platform, state, count(*) AS n FROM deliveries GROUP BY 1, 2 ORDER BY 1, 2"
    ):
        status.counts.setdefault(r["platform"], {})[r["state"]] = r["n"]
    status.next_due = await queue.next_due(conn, now)
    status.accounts = [
        AccountWindow(
            platform=r["platform"],
            account=r["account"],
            next_at=r["next_at"] if r["next_at"] and r["next_at"] > now else None,
            last_dispatch_at=r["last_dispatch_at"],
            in_flight=r["in_flight"],
            queued=r["queued"],
            breaking_active=r["breaking_active"],
            blocked_until=r["blocked_until"],
            block_reason=r["reason"],
        )
        for r in await conn.fetch(_ACCOUNTS, now)
    ]
    status.waiting = [
        Waiting(
            id=r["id"],
            platform=r["platform"],
            account=r["account"],
            state=r["state"],
            due_at=r["due_at"],
            reason=r["wait_reason"],
            until=r["wait_until"],
        )
        for r in await conn.fetch(
            "SELECT id, platform, account, state, due_at, wait_reason, wait_until"
            " FROM deliveries WHERE wait_reason IS NOT NULL"
            " AND state IN ('pending', 'ready', 'retry_wait', 'suspended')"
            " ORDER BY priority DESC, due_at LIMIT 200"
        )
    ]
    status.budgets = [
        Budget(
            bucket=r["bucket"],
            used=r["used"],
            window_end=r["window_end"],
            blocked_until=r["blocked_until"]
            if r["blocked_until"] and r["blocked_until"] > now
            else None,
            reason=r["reason"],
        )
        for r in await conn.fetch(
            "SELECT bucket, used, window_end, blocked_until, reason FROM rate_limits"
            " WHERE (window_end IS NOT NULL AND window_end > $1) OR blocked_until > $1"
            " OR used > 0 ORDER BY bucket",
            now,
        )
    ]
    return status


async def clear(conn: Any, state: str) -> int:
    """Delete deliveries in ``state`` (failed, cancelled or manual) and posts left
    without any delivery; returns how many deliveries went."""
    if state not in CLEARABLE:
        raise BadInput(f"only {', '.join(CLEARABLE)} deliveries can be cleared, not {state!r}")
    async with conn.transaction():
        rows = await conn.fetch("DELETE FROM deliveries WHERE state = $1 RETURNING post_id", state)
        await conn.execute(
            "DELETE FROM posts p WHERE p.id = ANY($1::uuid[])"
            " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.post_id = p.id)",
            list({r["post_id"] for r in rows}),
        )
    return len(rows)


async def find_delivery(conn: Any, text: str) -> uuid.UUID:
    """A delivery id from its full text or a unique prefix."""
    text = text.strip().lower()
    try:
        return uuid.UUID(text)
    except ValueError:
        pass
    if len(text) < 4:
        raise BadInput("give at least 4 characters of the delivery id")
    rows = await conn.fetch("SELECT id FROM deliveries WHERE id::text LIKE $1 || '%' LIMIT 2", text)
    if not rows:
        raise NotFound(f"no delivery with id {text}")
    if len(rows) > 1:
        raise BadInput(f"{text} matches several deliveries; give more of the id")
    found: uuid.UUID = rows[0]["id"]
    return found


async def retry(conn: Any, delivery_id: uuid.UUID, now: datetime) -> str:
    """Put a failed or manual delivery back in the queue, due now.

    Upload state and receipt are kept (the upload resumes), the fallback chain
    starts over, and ``outcome_unknown`` stays so a possible earlier publish is
    reconciled first. Returns the state it had.
    """
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT state FROM deliveries WHERE id = $1 FOR UPDATE", delivery_id
        )
        if row is None:
            raise NotFound(f"no delivery with id {delivery_id}")
        if row["state"] not in RETRYABLE:
            raise BadInput(
                f"delivery {delivery_id} is {row['state']}; only failed or manual ones are retried"
            )
        await conn.execute(
            "UPDATE deliveries SET state = 'ready', due_at = $2, layer_index = 0, layer = NULL,"
            " wait_reason = NULL, wait_until = NULL, lease_owner = NULL, lease_until = NULL,"
            " updated_at = now() WHERE id = $1",
            delivery_id,
            now,
        )
    previous: str = row["state"]
    return previous
