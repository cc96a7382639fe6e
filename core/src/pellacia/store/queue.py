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
  the account's deliveries queued; so does an operator's pause
  (``account_slots.paused_until``, ``store.accounts``), read from the slot row
  the claim locks anyway.

Wake-ups: a trigger (migration 0002) sends ``NOTIFY`` on :data:`QUEUE_CHANNEL`
whenever a delivery is inserted or becomes dispatchable, or an in-flight one
finishes. :func:`notify` sends the same signal by hand. Idle workers
``LISTEN`` there and otherwise sleep until :func:`next_due`.

Cost (DESIGN §11): the claim, :func:`next_due` and the wait reasons read a
bounded number of index entries whatever the number of queued rows: the
claim reads the oldest due rows up to a cap, then selects account-first (one
``account_slots`` row per account, created by a trigger when its first
delivery is inserted); :func:`next_due` is the minimum of a few "first row in
index order" queries; why a delivery waits is computed when read
(:func:`waits`, :func:`waiting`), never rewritten on a timer. Every state
change here sets ``state_reason`` (the 0004 trigger writes the event).
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

#: the claim's fast path reads at most this many due rows per candidate wanted
#: (and at least SCAN_MIN) before it switches to account-first selection
SCAN_FACTOR = 16
SCAN_MIN = 128

SpacingFor = Callable[[str], SpacingSettings]
QuotasFor = Callable[[str], Sequence[QuotaBudget]]

_DISPATCHABLE = "('pending', 'ready', 'retry_wait', 'suspended')"
_IN_FLIGHT = "('claimed', 'uploading', 'publishing')"

# Per-account facts, each one or two index probes ({t}: an alias with
# platform and account). Never a walk over an account's queued rows.
#
# A breaking delivery pauses normal ones on its account while it is in flight,
# waiting for a retry or resume, or due.
_PAUSING_BREAKING = f"""
    (EXISTS (SELECT 1 FROM deliveries pb
             WHERE pb.platform = {{t}}.platform AND pb.account = {{t}}.account
               AND pb.priority > 0 AND pb.state IN {_DISPATCHABLE}
               AND (pb.due_at <= $1 OR pb.state IN ('retry_wait', 'suspended')))
     OR EXISTS (SELECT 1 FROM deliveries pb
                WHERE pb.platform = {{t}}.platform AND pb.account = {{t}}.account
                  AND pb.state IN {_IN_FLIGHT} AND pb.priority > 0))
"""
_BUSY_NORMAL = f"""
    EXISTS (SELECT 1 FROM deliveries bz
            WHERE bz.platform = {{t}}.platform AND bz.account = {{t}}.account
              AND bz.state IN {_IN_FLIGHT} AND bz.priority = 0)
"""
# An operator's pause, on the slot row (alias {s}); NULL: not paused.
_UNPAUSED = "COALESCE({s}.paused_until, '-infinity') <= $1"
_BLOCKED = """
    EXISTS (SELECT 1 FROM rate_limits rb
            WHERE rb.bucket IN ('block:' || {t}.platform || ':' || {t}.account,
                               'block:' || {t}.platform || ':*')
              AND rb.blocked_until > $1)
"""


def _free_for_normal(t: str) -> str:
    """SQL: no normal delivery in flight and no breaking pause on ``t``'s account."""
    return f"NOT {_BUSY_NORMAL.format(t=t)} AND NOT {_PAUSING_BREAKING.format(t=t)}"


# Statement 1: candidates on a snapshot, then locked (the authoritative check
# is statement 2, after the account rows are locked).
#
# Fast path (``fast``): the oldest due rows in (priority, due) order, each
# checked against its account and locked, read until $2 are locked or $3
# were read; enough
# when free accounts are common among the oldest rows (a backlog drained as
# fast as it can go). When it finds fewer than $2 and there were more due
# rows than it read, the account-first path (``slow``) runs instead: the few due
# breaking deliveries, the first due normal delivery of each account whose
# spacing window is over (``account_slots_next_idx``, then one index probe
# per account), and slot owners coming back inside their own window (retry,
# released lease, resume). Its cost follows the number of free accounts, not
# of queued rows. Slot rows exist for every account (migration 0005 trigger).
#
# Each account's slot row is then locked (SKIP LOCKED: an account another
# claimer holds is left for this round).
_CANDIDATES = f"""
WITH fast AS (
    SELECT d.id
    FROM (
        SELECT x.id, x.priority, x.due_at
        FROM (
            SELECT d.id, d.platform, d.account, d.priority, d.due_at
            FROM deliveries d
            WHERE d.state IN {_DISPATCHABLE} AND d.due_at <= $1
            ORDER BY d.priority DESC, d.due_at
            LIMIT $3
        ) x
        CROSS JOIN LATERAL (
            SELECT s.next_at, s.breaking_next_at, s.owner_delivery, s.paused_until
            FROM account_slots s
            WHERE s.platform = x.platform AND s.account = x.account LIMIT 1
        ) s
        -- the slot row first: most held rows go no further
        WHERE {_UNPAUSED.format(s="s")} AND CASE WHEN x.priority > 0
                   THEN (s.breaking_next_at IS NULL OR s.breaking_next_at <= $1)
                        AND NOT {_BLOCKED.format(t="x")}
                   ELSE (s.next_at IS NULL OR s.next_at <= $1 OR s.owner_delivery = x.id)
                        AND {_free_for_normal("x")} AND NOT {_BLOCKED.format(t="x")} END
        ORDER BY x.priority DESC, x.due_at  -- already in this order: no sort
    ) e
    JOIN deliveries d ON d.id = e.id
    WHERE d.state IN {_DISPATCHABLE} AND d.due_at <= $1
    ORDER BY e.priority DESC, e.due_at
    LIMIT $2
    -- rows another claimer is taking are passed over as they are read
    FOR UPDATE OF d SKIP LOCKED
), fast_done AS (
    -- enough found, or the read saw every due row
    SELECT (SELECT count(*) FROM fast) >= $2
        OR (SELECT count(*) FROM (
                SELECT 1 FROM deliveries d WHERE d.state IN {_DISPATCHABLE} AND d.due_at <= $1
                LIMIT $3) n) < $3 AS done
), slow AS (
    SELECT x.id, x.priority, x.due_at FROM (
        SELECT d.id, d.priority, d.due_at
        FROM deliveries d
        CROSS JOIN LATERAL (
            SELECT 1 FROM account_slots s
            WHERE s.platform = d.platform AND s.account = d.account
              AND (s.breaking_next_at IS NULL OR s.breaking_next_at <= $1)
              AND {_UNPAUSED.format(s="s")} LIMIT 1
        ) s
        WHERE d.priority > 0 AND d.state IN {_DISPATCHABLE} AND d.due_at <= $1
          AND NOT {_BLOCKED.format(t="d")}
        UNION ALL
        SELECT c.id, c.priority, c.due_at
        FROM account_slots s
        CROSS JOIN LATERAL (
            SELECT d.id, d.platform, d.account, d.priority, d.due_at FROM deliveries d
            WHERE d.platform = s.platform AND d.account = s.account AND d.priority = 0
              AND d.state IN {_DISPATCHABLE} AND d.due_at <= $1
            ORDER BY d.due_at LIMIT 1
        ) c
        WHERE COALESCE(s.next_at, '-infinity') <= $1 AND {_UNPAUSED.format(s="s")}
          AND {_free_for_normal("c")} AND NOT {_BLOCKED.format(t="c")}
        UNION ALL
        SELECT d.id, d.priority, d.due_at
        FROM deliveries d
        CROSS JOIN LATERAL (
            SELECT 1 FROM account_slots s
            WHERE s.platform = d.platform AND s.account = d.account
              AND s.owner_delivery = d.id AND s.next_at > $1
              AND {_UNPAUSED.format(s="s")} LIMIT 1
        ) s
        WHERE d.dispatched_at IS NOT NULL AND d.priority = 0
          AND d.state IN {_DISPATCHABLE} AND d.due_at <= $1
          AND {_free_for_normal("d")} AND NOT {_BLOCKED.format(t="d")}
    ) x
    WHERE NOT (SELECT done FROM fast_done)
    ORDER BY x.priority DESC, x.due_at
    LIMIT $2
), pick AS (
    SELECT id FROM fast WHERE (SELECT done FROM fast_done)
    UNION ALL
    SELECT id FROM slow
), c AS (
    SELECT d.id, d.platform, d.account, d.priority, d.state, d.quota_reserved, d.due_at
    FROM deliveries d
    WHERE d.id = ANY (ARRAY(SELECT id FROM pick))  -- by primary key, never a walk
      AND d.state IN {_DISPATCHABLE} AND d.due_at <= $1
    FOR UPDATE OF d SKIP LOCKED
), keys AS (
    SELECT DISTINCT platform, account FROM c
), locked AS (
    -- latest version of each slot row, unless another claimer holds it
    SELECT s.platform, s.account, s.next_at, s.owner_delivery, s.breaking_next_at,
           NOT {_UNPAUSED.format(s="s")} AS held
    FROM account_slots s JOIN keys k ON k.platform = s.platform AND k.account = s.account
    ORDER BY s.platform, s.account
    FOR UPDATE OF s SKIP LOCKED
)
SELECT c.*, s.next_at, s.owner_delivery, s.breaking_next_at
FROM c JOIN locked s ON s.platform = c.platform AND s.account = c.account
WHERE NOT s.held  -- the latest slot row: a pause that just began holds the account
ORDER BY c.priority DESC, c.due_at
"""

# Statement 2: with the slot locks held, a fresh snapshot of each account.
_RECHECK = f"""
SELECT k.platform, k.account,
       {_BUSY_NORMAL.format(t="k")} AS busy,
       {_PAUSING_BREAKING.format(t="k")} AS paused,
       {_BLOCKED.format(t="k")} AS blocked,
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
SET state = 'claimed', state_reason = 'claimed', lease_owner = $2, lease_until = $3,
    attempts = d.attempts + 1,
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
# cost estimate past jit_above_cost) costs far more than it saves. Planning the
# claim query costs more than running it, and its shape is fixed by LATERAL
# probes and LIMITs, so the plan cached with each prepared statement is used.
_TXN_SETTINGS = "SET LOCAL jit = off; SET LOCAL plan_cache_mode = force_generic_plan"

_QUOTA_WAIT = """
UPDATE deliveries SET due_at = $2, wait_reason = $3, wait_until = $2, updated_at = now()
WHERE id = $1
"""


@contextlib.asynccontextmanager
async def _transaction(conn: Any) -> AsyncIterator[None]:
    """A transaction with the settings above, begun in one round trip (savepoint when nested)."""
    if conn.is_in_transaction():
        async with conn.transaction():
            await conn.execute(_TXN_SETTINGS)
            yield
        return
    await conn.execute(f"BEGIN; {_TXN_SETTINGS}")
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
        # Over-fetch a little: some candidates lose a slot race. Candidates
        # whose account slot row this transaction now holds.
        fetch = limit + 4 + limit // 4
        candidates = await conn.fetch(_CANDIDATES, now, fetch, max(SCAN_MIN, SCAN_FACTOR * fetch))
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
SET state = 'ready', state_reason = {{reason}}, lease_owner = NULL, lease_until = NULL,
    outcome_unknown = outcome_unknown OR state = 'publishing', updated_at = now()
WHERE state IN {_IN_FLIGHT} AND {{where}}
RETURNING id
"""


async def release(
    conn: Any, ids: Iterable[uuid.UUID], worker_id: str, reason: str = "released on shutdown"
) -> list[uuid.UUID]:
    """Put deliveries ``worker_id`` still holds back in the queue (shutdown, or
    runs a database outage cut short).

    Upload state and receipt are kept; one caught in ``publishing`` is marked
    ``outcome_unknown`` so the next claimer reconciles before publishing again.
    """
    rows = await conn.fetch(
        _RELEASE.format(reason="$3", where="id = ANY($1::uuid[]) AND lease_owner = $2"),
        list(ids),
        worker_id,
        reason,
    )
    return [r["id"] for r in rows]


async def recover_expired(conn: Any, now: datetime) -> list[uuid.UUID]:
    """The lease sweep: in-flight deliveries whose lease ran out go back to the queue."""
    rows = await conn.fetch(
        _RELEASE.format(reason="'lease expired'", where="lease_until < $1"), now
    )
    return [r["id"] for r in rows]


async def notify(conn: Any) -> None:
    """Wake idle workers (the 0002 trigger already does this for row changes)."""
    await conn.execute("SELECT pg_notify($1, '')", QUEUE_CHANNEL)


# Next due, as the minimum of a few "first row in index order" queries, so its
# cost does not follow the number of queued rows. For a normal delivery the
# time is GREATEST(its due time, its account's slot time), hence two streams:
#   * accounts in slot order: the first whose first queued delivery is due by
#     the time its window ends (GREATEST(slot, now)) gives slot time;
#   * future deliveries in due order: the first whose account's window ends by
#     then gives its due time;
# plus slot owners coming back (their window does not hold them), and the few
# breaking deliveries. Accounts with a normal delivery in flight or paused by
# breaking news are left out: the end of that delivery sends a wake-up.
# {scope}: which accounts (alias s / d), {unblocked}: announced blocks left out.
_NEXT_NORMAL = f"""
WITH by_slot AS (
    SELECT GREATEST(s.next_at, fd.due_at) AS at
    FROM account_slots s
    CROSS JOIN LATERAL (
        SELECT d.platform, d.account, d.due_at FROM deliveries d
        WHERE d.platform = s.platform AND d.account = s.account AND d.priority = 0
          AND d.state IN {_DISPATCHABLE}
        ORDER BY d.due_at LIMIT 1
    ) fd
    WHERE {{scope_s}} AND fd.due_at <= GREATEST(s.next_at, $1) AND {_UNPAUSED.format(s="s")}
      AND {_free_for_normal("fd")} AND {{unblocked_f}}
    ORDER BY COALESCE(s.next_at, '-infinity') LIMIT 1
)
SELECT LEAST(
    (SELECT at FROM by_slot),
    (SELECT d.due_at
     FROM deliveries d
     CROSS JOIN LATERAL (
         SELECT 1 FROM account_slots s
         WHERE s.platform = d.platform AND s.account = d.account
           AND COALESCE(s.next_at, '-infinity') <= d.due_at
           AND {_UNPAUSED.format(s="s")} LIMIT 1
     ) s
     WHERE d.priority = 0 AND d.state IN {_DISPATCHABLE} AND d.due_at > $1 AND {{scope_d}}
       -- no need to look past what the first stream found
       AND d.due_at < COALESCE((SELECT at FROM by_slot), 'infinity')
       AND {_free_for_normal("d")} AND {{unblocked_d}}
     ORDER BY d.priority DESC, d.due_at LIMIT 1),
    (SELECT min(d.due_at)
     FROM deliveries d
     CROSS JOIN LATERAL (
         SELECT 1 FROM account_slots s
         WHERE s.platform = d.platform AND s.account = d.account AND s.owner_delivery = d.id
           AND {_UNPAUSED.format(s="s")} LIMIT 1
     ) s
     WHERE d.dispatched_at IS NOT NULL AND d.priority = 0 AND d.state IN {_DISPATCHABLE}
       AND {{scope_d}} AND {_free_for_normal("d")} AND {{unblocked_d}})
)
"""
_ACCOUNT_BLOCK = """
    NOT EXISTS (SELECT 1 FROM rate_limits rb
                WHERE rb.bucket = 'block:' || {t}.platform || ':' || {t}.account
                  AND rb.blocked_until > $1)
"""
_NEXT_UNBLOCKED = _NEXT_NORMAL.format(
    scope_s="true",
    scope_d="true",
    unblocked_f=f"NOT {_BLOCKED.format(t='fd')}",
    unblocked_d=f"NOT {_BLOCKED.format(t='d')}",
)
# Under a platform-wide block: that platform's accounts without a block of their own.
_NEXT_PLATFORM = _NEXT_NORMAL.format(
    scope_s="s.platform = $2",
    scope_d="d.platform = $2",
    unblocked_f=_ACCOUNT_BLOCK.format(t="fd"),
    unblocked_d=_ACCOUNT_BLOCK.format(t="d"),
)
_NEXT_ACCOUNT = _NEXT_NORMAL.format(
    scope_s="s.platform = $2 AND s.account = $3",
    scope_d="d.platform = $2 AND d.account = $3",
    unblocked_f="true",
    unblocked_d="true",
)
# The active blocks (few rows); an account's own block ends no earlier than its
# platform's.
_ACTIVE_BLOCKS = """
SELECT r.bucket, GREATEST(r.blocked_until, p.blocked_until) AS until
FROM rate_limits r
LEFT JOIN rate_limits p
  ON p.bucket = 'block:' || split_part(r.bucket, ':', 2) || ':*' AND p.blocked_until > $1
WHERE r.bucket LIKE 'block:%' AND r.blocked_until > $1
"""
_NEXT_BREAKING = f"""
SELECT min(GREATEST(d.due_at, s.breaking_next_at, blk.until))
FROM deliveries d
CROSS JOIN LATERAL (
    SELECT s.breaking_next_at FROM account_slots s
    WHERE s.platform = d.platform AND s.account = d.account AND {_UNPAUSED.format(s="s")} LIMIT 1
) s
LEFT JOIN LATERAL (
    SELECT max(r.blocked_until) AS until FROM rate_limits r
    WHERE r.bucket IN ('block:' || d.platform || ':' || d.account, 'block:' || d.platform || ':*')
      AND r.blocked_until > $1
) blk ON true
WHERE d.priority > 0 AND d.state IN {_DISPATCHABLE}
"""
# Paused accounts are left out above; a pause with an end wakes the worker
# then (when the account has something queued). Few rows: the paused ones.
_PAUSE_ENDS = f"""
SELECT min(s.paused_until) FROM account_slots s
WHERE s.paused_until > $1 AND s.paused_until < 'infinity'
  AND EXISTS (SELECT 1 FROM deliveries d
              WHERE d.platform = s.platform AND d.account = s.account
                AND d.state IN {_DISPATCHABLE})
"""


async def next_due(conn: Any, now: datetime) -> datetime | None:
    """When the next delivery can be claimed, all rules considered.

    Deliveries held by a busy account or a breaking pause are left out: the
    in-flight delivery's end sends a wake-up. ``None``: nothing to wait for.
    """
    async with _transaction(conn):
        found = [
            await conn.fetchval(_NEXT_UNBLOCKED, now),
            await conn.fetchval(_NEXT_BREAKING, now),
            await conn.fetchval(_PAUSE_ENDS, now),
        ]
        # Blocked accounts: max(block end, their own next time), and max()
        # distributes over min(), so one query per block, not per account.
        for block in await conn.fetch(_ACTIVE_BLOCKS, now):
            _, platform, account = block["bucket"].split(":", 2)
            if account == quotas.ALL_ACCOUNTS:
                value = await conn.fetchval(_NEXT_PLATFORM, now, platform)
            else:
                value = await conn.fetchval(_NEXT_ACCOUNT, now, platform, account)
            if value is not None:
                found.append(max(value, block["until"]))
    present = [v for v in found if v is not None]
    return min(present) if present else None


@dataclass(frozen=True)
class Wait:
    """Why a queued delivery is not out yet, and until when (``None``: not known)."""

    reason: str
    until: datetime | None


# Why each queued delivery waits, computed when read (never stored on a timer):
# a future one keeps the reason written with its due time (scheduled, quota,
# retry); a due one is held by an announced block, a breaking pause, a busy
# account or its account's spacing window, else it is free to go.
_WAITS = f"""
SELECT d.id, d.platform, d.account, d.state, d.due_at, w.reason, w.until
FROM deliveries d
LEFT JOIN account_slots s ON s.platform = d.platform AND s.account = d.account
LEFT JOIN LATERAL (
    SELECT r.blocked_until, r.reason FROM rate_limits r
    WHERE r.bucket IN ('block:' || d.platform || ':' || d.account,
                       'block:' || d.platform || ':*')
      AND r.blocked_until > $1
    ORDER BY r.blocked_until DESC LIMIT 1
) blk ON true
CROSS JOIN LATERAL (
    SELECT CASE WHEN d.priority > 0 THEN s.breaking_next_at
                WHEN s.owner_delivery = d.id THEN NULL
                ELSE s.next_at END AS slot_at
) g
CROSS JOIN LATERAL (
    SELECT CASE WHEN d.state NOT IN {_DISPATCHABLE} OR d.due_at > $1 THEN d.wait_reason
                WHEN NOT {_UNPAUSED.format(s="s")}
                     THEN 'paused: ' || COALESCE(s.pause_reason, 'by ' || s.paused_by)
                WHEN blk.blocked_until IS NOT NULL
                     THEN 'rate-limit' || COALESCE(': ' || blk.reason, '')
                WHEN d.priority = 0 AND {_PAUSING_BREAKING.format(t="d")} THEN 'breaking'
                WHEN d.priority = 0 AND {_BUSY_NORMAL.format(t="d")} THEN 'account-busy'
                WHEN g.slot_at > $1 THEN 'spacing'
           END AS reason
) r
CROSS JOIN LATERAL (
    SELECT r.reason,
           CASE WHEN d.state NOT IN {_DISPATCHABLE} OR d.due_at > $1 THEN d.wait_until
                WHEN r.reason LIKE 'paused: %' THEN NULLIF(s.paused_until, 'infinity')
                WHEN blk.blocked_until IS NOT NULL THEN blk.blocked_until
                WHEN r.reason = 'spacing' THEN g.slot_at
           END AS until
) w
"""
_WAITS_OF = _WAITS + " WHERE d.id = ANY($2::uuid[])"
# Queued deliveries that wait, in claim order: a walk of the dispatch index
# that stops at ``$2`` held ones.
_WAITING = (
    _WAITS
    + f" WHERE d.state IN {_DISPATCHABLE} AND w.reason IS NOT NULL"
    + " ORDER BY d.priority DESC, d.due_at LIMIT $2"
)


async def waits(conn: Any, now: datetime, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Wait]:
    """Why each of these deliveries waits at ``now`` (absent: it does not)."""
    async with _transaction(conn):
        rows = await conn.fetch(_WAITS_OF, now, list(ids))
    return {r["id"]: Wait(r["reason"], r["until"]) for r in rows if r["reason"] is not None}


async def waiting(conn: Any, now: datetime, limit: int) -> list[Any]:
    """The first ``limit`` queued deliveries that wait, in claim order, with
    ``reason`` and ``until`` (for ``queue status``)."""
    async with _transaction(conn):
        rows: list[Any] = await conn.fetch(_WAITING, now, limit)
    return rows


__all__ = [
    "PREEMPT_CHANNEL",
    "QUEUE_CHANNEL",
    "QuotasFor",
    "SpacingFor",
    "Wait",
    "claim",
    "next_due",
    "notify",
    "recover_expired",
    "release",
    "renew",
    "waiting",
    "waits",
]
