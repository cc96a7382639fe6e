"""The delivery queue: claim with leases, spacing, breaking news, recovery.

Every worker on every machine claims through :func:`claim`, so all the rules
hold across processes and restarts because they live in PostgreSQL:

* order: ``priority DESC, due_at`` over dispatchable deliveries that are due,
  taken with ``FOR UPDATE SKIP LOCKED`` (two workers never claim one row);
* spacing: per (platform, account) an ``account_slots`` row holds when the next
  normal post may go (``min_interval`` + random ``jitter`` after the last
  dispatch). Claimers lock that row and re-read the account's in-flight
  deliveries *after* taking the lock, so two workers can never both dispatch on
  one account inside the interval, and at most one normal delivery per account
  is in flight;
* breaking news (``priority`` 1): ignores the interval (only
  ``breaking_floor`` between two breaking posts), pauses normal dispatch on its
  account until it is out, pushes the account's next normal slot to
  ``dispatch + interval + jitter``, and asks the worker holding a normal upload
  on that account to suspend it (``NOTIFY`` on :data:`PREEMPT_CHANNEL` with the
  delivery id as payload);
* quota budgets are reserved in the same transaction (``store.quotas``); an
  exhausted budget moves the delivery's ``due_at`` to the reset with
  ``wait_reason = 'quota:<budget>'``; announced blocks (``quotas.block``) keep
  the account's deliveries queued.

Wake-ups: a trigger (migration 0002) sends ``NOTIFY`` on :data:`QUEUE_CHANNEL`
whenever a delivery is inserted or becomes dispatchable, or an in-flight one
finishes. :func:`notify` sends the same signal by hand. Idle workers
``LISTEN`` there and otherwise sleep until :func:`next_due`.
"""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pellacia.config import SpacingSettings
from pellacia.contract import QuotaBudget
from pellacia.store import quotas
from pellacia.store.models import ClaimedDelivery, DeliveryState

#: NOTIFY channel: something may have become claimable (payload unused)
QUEUE_CHANNEL = "pellacia_queue"
#: NOTIFY channel: payload is the id of a normal delivery breaking news pre-empts
PREEMPT_CHANNEL = "pellacia_preempt"

SpacingFor = Callable[[str], SpacingSettings]
QuotasFor = Callable[[str], Sequence[QuotaBudget]]

_DISPATCHABLE = "('pending', 'ready', 'retry_wait', 'suspended')"
_IN_FLIGHT = "('claimed', 'uploading', 'publishing')"

# A breaking delivery pauses normal ones on its account while it is in flight,
# waiting for a retry or resume, or due.
_PAUSING_BREAKING = f"""
    SELECT 1 FROM deliveries b
    WHERE b.platform = {{t}}.platform AND b.account = {{t}}.account AND b.priority > 0
      AND (b.state IN {_IN_FLIGHT} OR b.state IN ('retry_wait', 'suspended')
           OR (b.state IN ('pending', 'ready') AND b.due_at <= $1))
"""
_BUSY_NORMAL = f"""
    SELECT 1 FROM deliveries f
    WHERE f.platform = {{t}}.platform AND f.account = {{t}}.account
      AND f.priority = 0 AND f.state IN {_IN_FLIGHT}
"""
_BLOCKED = """
    SELECT 1 FROM rate_limits r
    WHERE r.bucket IN ('block:' || {t}.platform || ':' || {t}.account,
                       'block:' || {t}.platform || ':*')
      AND r.blocked_until > $1
"""

# Statement 1: candidates, pre-filtered on a snapshot (the authoritative check
# is statement 2, after the account rows are locked), each with its account's
# slot row created if missing and locked (SKIP LOCKED: an account another
# claimer holds is left for this round). Rows inserted here are invisible to
# the other CTEs, hence the union of ``inserted`` and ``locked``.
_CANDIDATES = f"""
WITH c AS (
    SELECT d.id, d.platform, d.account, d.priority, d.state, d.quota_reserved, d.due_at
    FROM deliveries d
    WHERE d.state IN {_DISPATCHABLE} AND d.due_at <= $1
      AND NOT EXISTS ({_BLOCKED.format(t="d")})
      AND (
        (d.priority > 0 AND NOT EXISTS (
            SELECT 1 FROM account_slots s WHERE s.platform = d.platform
              AND s.account = d.account AND s.breaking_next_at > $1))
        OR (d.priority = 0
            AND NOT EXISTS ({_BUSY_NORMAL.format(t="d")})
            AND NOT EXISTS ({_PAUSING_BREAKING.format(t="d")})
            AND NOT EXISTS (
                SELECT 1 FROM account_slots s WHERE s.platform = d.platform
                  AND s.account = d.account AND s.next_at > $1
                  AND s.owner_delivery IS DISTINCT FROM d.id))
      )
    ORDER BY d.priority DESC, d.due_at
    LIMIT $2
    FOR UPDATE OF d SKIP LOCKED
), keys AS (
    SELECT DISTINCT platform, account FROM c
), inserted AS (
    INSERT INTO account_slots (platform, account)
    SELECT platform, account FROM keys ORDER BY platform, account
    ON CONFLICT DO NOTHING
    RETURNING platform, account, next_at, owner_delivery, breaking_next_at
), locked AS (
    -- existing slot rows, latest version, unless another claimer holds them
    SELECT s.platform, s.account, s.next_at, s.owner_delivery, s.breaking_next_at
    FROM account_slots s JOIN keys k ON k.platform = s.platform AND k.account = s.account
    ORDER BY s.platform, s.account
    FOR UPDATE OF s SKIP LOCKED
)
SELECT c.*, s.next_at, s.owner_delivery, s.breaking_next_at
FROM c JOIN (SELECT * FROM inserted UNION ALL SELECT * FROM locked) s
  ON s.platform = c.platform AND s.account = c.account
ORDER BY c.priority DESC, c.due_at
"""

# Statement 2: with the slot locks held, a fresh snapshot of each account.
_RECHECK = f"""
SELECT k.platform, k.account,
       EXISTS ({_BUSY_NORMAL.format(t="k")}) AS busy,
       EXISTS ({_PAUSING_BREAKING.format(t="k")}) AS paused,
       EXISTS ({_BLOCKED.format(t="k")}) AS blocked,
       ARRAY(SELECT f.id FROM deliveries f
             WHERE f.platform = k.platform AND f.account = k.account AND f.priority = 0
               AND f.state IN ('claimed', 'uploading')) AS preemptible
FROM unnest($2::text[], $3::text[]) AS k(platform, account)
"""

# Statement 3: take the deliveries and move the slots, in one round trip.
_TAKE = """
WITH moved AS (
    UPDATE account_slots s
    SET next_at = v.next_at, owner_delivery = v.owner, last_dispatch_at = v.dispatched,
        breaking_next_at = v.breaking_next_at, updated_at = now()
    FROM unnest($5::text[], $6::text[], $7::timestamptz[], $8::uuid[], $9::timestamptz[],
                $10::timestamptz[]) AS v(platform, account, next_at, owner, dispatched,
                                         breaking_next_at)
    WHERE s.platform = v.platform AND s.account = v.account
)
UPDATE deliveries d
SET state = 'claimed', lease_owner = $2, lease_until = $3, attempts = d.attempts + 1,
    wait_reason = NULL, wait_until = NULL, quota_reserved = true,
    dispatched_at = COALESCE(d.dispatched_at, $4), updated_at = now()
FROM posts p
WHERE d.id = ANY($1::uuid[]) AND p.id = d.post_id
RETURNING d.id, d.post_id, d.platform, d.account, d.priority, d.attempts, d.layer_index,
          d.idempotency_key, d.lease_owner, d.lease_until, d.upload_state, d.receipt,
          d.outcome_unknown, p.video_path, p.video_sha256, p.media, p.title, p.description,
          p.hashtags, p.overrides, p.scheduled_at, p.is_test
"""

# These queries are short; JIT compiling them (large queues push the planner's
# cost estimate past jit_above_cost) costs far more than it saves.
_NO_JIT = "SET LOCAL jit = off"

_QUOTA_WAIT = """
UPDATE deliveries SET due_at = $2, wait_reason = $3, wait_until = $2, updated_at = now()
WHERE id = $1
"""


@contextlib.asynccontextmanager
async def _transaction(conn: Any) -> AsyncIterator[None]:
    """A transaction with JIT off, begun in one round trip (savepoint when nested)."""
    if conn.is_in_transaction():
        async with conn.transaction():
            await conn.execute(_NO_JIT)
            yield
        return
    await conn.execute(f"BEGIN; {_NO_JIT}")
    try:
        yield
    except BaseException:
        # A connection caught mid-query is reset by the pool when released.
        with contextlib.suppress(Exception):
            await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")


@dataclass
class _Slot:
    next_at: datetime | None
    owner: uuid.UUID | None
    breaking_next_at: datetime | None
    dispatched: datetime | None = None
    changed: bool = False


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


async def claim(
    conn: Any,
    *,
    worker_id: str,
    now: datetime,
    lease_seconds: float,
    limit: int,
    spacing: SpacingFor,
    quotas_for: QuotasFor | None = None,
    rng: random.Random | None = None,
) -> list[ClaimedDelivery]:
    """Claim up to ``limit`` due deliveries for ``worker_id`` (one transaction).

    Each claimed delivery is ``claimed`` with a lease until ``now +
    lease_seconds`` and ``attempts + 1``. ``spacing(platform)`` gives the
    account spacing rules; ``quotas_for(platform)`` the platform's budgets.
    """
    if limit <= 0:
        return []
    rand = rng or random
    lease_until = now + timedelta(seconds=lease_seconds)
    async with _transaction(conn):
        # Over-fetch a little: some candidates share an account or lose a slot race.
        # Candidates whose account slot row this transaction now holds.
        candidates = await conn.fetch(_CANDIDATES, now, limit + 4 + limit // 4)
        if not candidates:
            return []
        slots = {
            (r["platform"], r["account"]): _Slot(
                r["next_at"], r["owner_delivery"], r["breaking_next_at"]
            )
            for r in candidates
        }
        locked = sorted(slots)
        checks = {
            (r["platform"], r["account"]): r
            for r in await conn.fetch(_RECHECK, now, [a[0] for a in locked], [a[1] for a in locked])
        }
        taken: list[uuid.UUID] = []
        previous: dict[uuid.UUID, DeliveryState] = {}
        normal_taken: set[tuple[str, str]] = set()
        preempt: list[uuid.UUID] = []
        rules_of: dict[str, SpacingSettings] = {}
        for cand in candidates:
            if len(taken) >= limit:
                break
            key = (cand["platform"], cand["account"])
            slot, check = slots.get(key), checks.get(key)
            if slot is None or check is None or check["blocked"]:
                continue
            rules = rules_of.get(cand["platform"])
            if rules is None:
                rules = rules_of[cand["platform"]] = spacing(cand["platform"])
            breaking = cand["priority"] > 0
            if breaking:
                if slot.breaking_next_at is not None and slot.breaking_next_at > now:
                    continue
            else:
                if check["busy"] or check["paused"] or key in normal_taken:
                    continue
                if slot.next_at is not None and slot.next_at > now and slot.owner != cand["id"]:
                    continue
            if quotas_for is not None and not cand["quota_reserved"]:
                budgets = quotas_for(cand["platform"])
                if budgets:
                    wait = await quotas.reserve(
                        conn,
                        platform=cand["platform"],
                        account=cand["account"],
                        budgets=budgets,
                        now=now,
                        delivery_id=cand["id"],
                    )
                    if wait is not None:
                        await conn.execute(_QUOTA_WAIT, cand["id"], wait.until, wait.reason)
                        continue
            interval = rules.min_interval + (rand.uniform(0, rules.jitter) if rules.jitter else 0)
            if breaking:
                slot.breaking_next_at = now + timedelta(seconds=rules.breaking_floor)
                # Later normal posts are re-spaced after the breaking one.
                slot.next_at = _later(slot.next_at, now + timedelta(seconds=interval))
                slot.owner = cand["id"]
                slot.dispatched = now
                slot.changed = True
                preempt.extend(check["preemptible"])
            else:
                normal_taken.add(key)
                if slot.owner != cand["id"]:
                    slot.next_at = now + timedelta(seconds=interval)
                    slot.owner = cand["id"]
                    slot.dispatched = now
                    slot.changed = True
            taken.append(cand["id"])
            previous[cand["id"]] = DeliveryState(cand["state"])
        if not taken:
            return []
        moved = [(k, s) for k, s in slots.items() if s.changed]
        rows = await conn.fetch(
            _TAKE,
            taken,
            worker_id,
            lease_until,
            now,
            [k[0] for k, _ in moved],
            [k[1] for k, _ in moved],
            [s.next_at for _, s in moved],
            [s.owner for _, s in moved],
            [s.dispatched for _, s in moved],
            [s.breaking_next_at for _, s in moved],
        )
        if preempt:
            await conn.execute(
                "SELECT pg_notify($1, id::text) FROM unnest($2::uuid[]) AS id",
                PREEMPT_CHANNEL,
                sorted(set(preempt)),
            )
    order = {d: i for i, d in enumerate(taken)}
    claimed = [ClaimedDelivery.from_row(r, previous[r["id"]]) for r in rows]
    claimed.sort(key=lambda c: order[c.id])
    return claimed


async def renew(
    conn: Any, ids: Iterable[uuid.UUID], worker_id: str, lease_until: datetime
) -> list[uuid.UUID]:
    """Extend the leases ``worker_id`` still holds; return the ids still held."""
    rows = await conn.fetch(
        f"UPDATE deliveries SET lease_until = $3 WHERE id = ANY($1::uuid[])"
        f" AND lease_owner = $2 AND state IN {_IN_FLIGHT} RETURNING id",
        list(ids),
        worker_id,
        lease_until,
    )
    return [r["id"] for r in rows]


_RELEASE = f"""
UPDATE deliveries
SET state = 'ready', lease_owner = NULL, lease_until = NULL,
    outcome_unknown = outcome_unknown OR state = 'publishing', updated_at = now()
WHERE state IN {_IN_FLIGHT} AND {{where}}
RETURNING id
"""


async def release(conn: Any, ids: Iterable[uuid.UUID], worker_id: str) -> list[uuid.UUID]:
    """Put deliveries ``worker_id`` still holds back in the queue (shutdown).

    Upload state and receipt are kept; one caught in ``publishing`` is marked
    ``outcome_unknown`` so the next claimer reconciles before publishing again.
    """
    rows = await conn.fetch(
        _RELEASE.format(where="id = ANY($1::uuid[]) AND lease_owner = $2"), list(ids), worker_id
    )
    return [r["id"] for r in rows]


async def recover_expired(conn: Any, now: datetime) -> list[uuid.UUID]:
    """The lease sweep: in-flight deliveries whose lease ran out go back to the queue."""
    rows = await conn.fetch(_RELEASE.format(where="lease_until < $1"), now)
    return [r["id"] for r in rows]


async def notify(conn: Any) -> None:
    """Wake idle workers (the 0002 trigger already does this for row changes)."""
    await conn.execute("SELECT pg_notify($1, '')", QUEUE_CHANNEL)


# What holds each dispatchable delivery back, computed in one place for
# next_due, the wait bookkeeping and ``queue status``.
_GATES = f"""
SELECT d.id, d.platform, d.account, d.priority, d.state, d.due_at, d.wait_reason,
       d.wait_until,
       blk.blocked_until, blk.reason AS block_reason,
       (d.priority = 0 AND EXISTS ({_BUSY_NORMAL.format(t="d")})) AS busy,
       (d.priority = 0 AND EXISTS ({_PAUSING_BREAKING.format(t="d")})) AS paused,
       CASE WHEN d.priority > 0 THEN s.breaking_next_at
            WHEN s.owner_delivery = d.id THEN NULL
            ELSE s.next_at END AS slot_at
FROM deliveries d
LEFT JOIN account_slots s ON s.platform = d.platform AND s.account = d.account
LEFT JOIN LATERAL (
    SELECT r.blocked_until, r.reason FROM rate_limits r
    WHERE r.bucket IN ('block:' || d.platform || ':' || d.account,
                       'block:' || d.platform || ':*')
      AND r.blocked_until > $1
    ORDER BY r.blocked_until DESC LIMIT 1
) blk ON true
WHERE d.state IN {_DISPATCHABLE}
"""


async def next_due(conn: Any, now: datetime) -> datetime | None:
    """When the next delivery can be claimed, all rules considered.

    Deliveries held by a busy account or a breaking pause are left out: the
    in-flight delivery's end sends a wake-up. ``None``: nothing to wait for.
    """
    async with conn.transaction():
        await conn.execute(_NO_JIT)
        value: datetime | None = await conn.fetchval(
            f"SELECT min(GREATEST(g.due_at, g.slot_at, g.blocked_until)) FROM ({_GATES}) g"
            " WHERE NOT g.busy AND NOT g.paused",
            now,
        )
    return value


async def refresh_waits(conn: Any, now: datetime) -> int:
    """Record why each due-but-held delivery waits, and until when.

    Reasons: ``spacing`` (with the slot time), ``breaking`` (paused by breaking
    news on the account), ``account-busy`` (a post on the account is in
    flight), ``rate-limit`` (an announced block). Quota waits are written by
    the claim itself. Returns the number of rows changed.
    """
    # Rows a claimer holds are skipped (SKIP LOCKED): never wait behind a claim.
    async with conn.transaction():
        await conn.execute(_NO_JIT)
        result: str = await conn.execute(
            f"""
        WITH g AS ({_GATES}), w AS (
            SELECT g.id,
                CASE WHEN g.blocked_until IS NOT NULL
                          THEN 'rate-limit' || COALESCE(': ' || g.block_reason, '')
                     WHEN g.paused THEN 'breaking'
                     WHEN g.busy THEN 'account-busy'
                     WHEN g.slot_at > $1 THEN 'spacing'
                     ELSE NULL END AS reason,
                CASE WHEN g.blocked_until IS NOT NULL THEN g.blocked_until
                     WHEN g.paused OR g.busy THEN NULL
                     WHEN g.slot_at > $1 THEN g.slot_at
                     ELSE NULL END AS until,
                g.wait_reason, g.wait_until
            FROM g WHERE g.due_at <= $1
        ), changed AS (
            SELECT d.id, w.reason, w.until FROM deliveries d JOIN w ON w.id = d.id
            WHERE w.wait_reason IS DISTINCT FROM w.reason
               OR w.wait_until IS DISTINCT FROM w.until
            FOR UPDATE OF d SKIP LOCKED
        )
        UPDATE deliveries d SET wait_reason = c.reason, wait_until = c.until
        FROM changed c
        WHERE d.id = c.id AND d.state IN {_DISPATCHABLE}
        """,
            now,
        )
    return int(result.split()[-1])


__all__ = [
    "PREEMPT_CHANNEL",
    "QUEUE_CHANNEL",
    "QuotasFor",
    "SpacingFor",
    "claim",
    "next_due",
    "notify",
    "recover_expired",
    "refresh_waits",
    "release",
    "renew",
]
