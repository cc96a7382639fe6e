"""SQL for one delivery's life: fenced transitions, upload state, attempts, cancel.

Every write by a worker is *fenced* on ``lease_owner``: when the lease was lost
(expired and taken by another worker) the update touches no row and the caller
gets ``LeaseLost``, so a stale worker can never publish or overwrite anything.
Each state change writes its ``delivery.state`` event in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pellacia.store import events
from pellacia.store.models import ClaimedDelivery, DeliveryState


class LeaseLost(Exception):
    """This worker no longer holds the delivery's lease: stop touching it."""


_CLAIMED_SELECT = """
SELECT d.id, d.post_id, d.platform, d.account, d.state, d.priority, d.attempts, d.layer_index,
       d.idempotency_key, d.lease_owner, d.lease_until, d.upload_state, d.receipt,
       d.outcome_unknown, p.video_path, p.video_sha256, p.media, p.title, p.description,
       p.hashtags, p.overrides, p.scheduled_at, p.is_test
FROM deliveries d JOIN posts p ON p.id = d.post_id
"""


async def claim_by_id(
    conn: Any, delivery_id: uuid.UUID, *, worker: str, lease_until: datetime
) -> ClaimedDelivery | None:
    """Take the lease on one dispatchable delivery, whatever its spacing.

    For tests and operator tools; workers use the scheduler's claim, which
    honours priority, spacing and quotas. An in-flight delivery whose lease
    expired may be taken too (its ``previous_state`` says where it was).
    """
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT state, lease_until FROM deliveries WHERE id = $1 FOR UPDATE", delivery_id
        )
        if row is None:
            return None
        state = DeliveryState(row["state"])
        expired = row["lease_until"] is not None and row["lease_until"] < lease_until
        if state not in (
            DeliveryState.PENDING,
            DeliveryState.READY,
            DeliveryState.RETRY_WAIT,
            DeliveryState.SUSPENDED,
        ) and not (
            state in (DeliveryState.CLAIMED, DeliveryState.UPLOADING, DeliveryState.PUBLISHING)
            and expired
        ):
            return None
        await conn.execute(
            "UPDATE deliveries SET state = 'claimed', state_reason = 'claimed by id', "
            "lease_owner = $2, lease_until = $3, "
            "wait_reason = NULL, attempts = attempts + 1, updated_at = now() WHERE id = $1",
            delivery_id,
            worker,
            lease_until,
        )
        full = await conn.fetchrow(_CLAIMED_SELECT + " WHERE d.id = $1", delivery_id)
    return ClaimedDelivery.from_row(full, state)


class CancelRequested(Exception):
    """An operator asked to cancel this delivery; honoured at this checkpoint."""


async def transition(
    conn: Any,
    delivery: ClaimedDelivery,
    to: DeliveryState,
    *,
    owner: str,
    reason: str | None = None,
    release: bool = False,
    fields: Mapping[str, Any] | None = None,
    event: Mapping[str, Any] | None = None,
    honour_cancel: bool = False,
) -> str:
    """Move a leased delivery to ``to`` (fenced), with its event, in one transaction.

    Returns the previous state. ``release`` drops the lease. ``fields`` are
    extra columns to set (trusted names from this package's callers only).
    ``honour_cancel``: raise ``CancelRequested`` instead when an operator asked
    to cancel (checked under the row lock, so a cancel never races a publish).
    """
    extra = dict(fields or {})
    sets = ["state = $2", "state_reason = $3", "updated_at = now()"]
    args: list[Any] = [delivery.id, to.value, _reason_text(reason, event)]
    for name, value in extra.items():
        args.append(value)
        sets.append(f"{name} = ${len(args)}")
    if release:
        sets += ["lease_owner = NULL", "lease_until = NULL"]
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT state, lease_owner, cancel_requested FROM deliveries WHERE id = $1 FOR UPDATE",
            delivery.id,
        )
        if row is None or row["lease_owner"] != owner:
            raise LeaseLost(f"delivery {delivery.id}: lease no longer held by {owner}")
        if honour_cancel and row["cancel_requested"]:
            raise CancelRequested(str(delivery.id))
        # the state-machine trigger checks the edge and writes the event
        await conn.execute(f"UPDATE deliveries SET {', '.join(sets)} WHERE id = $1", *args)
    return str(row["state"])


def _reason_text(reason: str | None, event: Mapping[str, Any] | None) -> str | None:
    """``state_reason``: the caller's reason, or what its event details say."""
    if reason:
        return reason
    if event:
        return ", ".join(f"{k}={v}" for k, v in event.items())
    return None


async def update_fenced(
    conn: Any, delivery_id: uuid.UUID, *, owner: str, fields: Mapping[str, Any]
) -> bool:
    """Set columns of a leased delivery without a state change; returns
    ``cancel_requested`` so checkpoints can honour a cancel."""
    sets = ["updated_at = now()"]
    args: list[Any] = [delivery_id, owner]
    for name, value in fields.items():
        args.append(value)
        sets.append(f"{name} = ${len(args)}")
    row = await conn.fetchrow(
        f"UPDATE deliveries SET {', '.join(sets)} WHERE id = $1 AND lease_owner = $2 "
        "RETURNING cancel_requested",
        *args,
    )
    if row is None:
        raise LeaseLost(f"delivery {delivery_id}: lease no longer held by {owner}")
    return bool(row["cancel_requested"])


async def start_attempt(
    conn: Any, delivery_id: uuid.UUID, *, layer: str, route: str | None, worker: str, at: datetime
) -> tuple[int, int]:
    """Open the audit row of a new attempt: (row id, attempt number of this delivery).

    ``deliveries.attempts`` counts claims (the queue bumps it); the audit log
    counts every try, including in-process retries.
    """
    held = await conn.fetchval(
        "UPDATE deliveries SET layer = $2, route = $3, updated_at = now() "
        "WHERE id = $1 AND lease_owner = $4 RETURNING 1",
        delivery_id,
        layer,
        route,
        worker,
    )
    if held is None:
        raise LeaseLost(f"delivery {delivery_id}: lease no longer held by {worker}")
    row = await conn.fetchrow(
        """
        INSERT INTO delivery_attempts (delivery_id, attempt, layer, route, worker, started_at)
        SELECT $1, coalesce(max(attempt), 0) + 1, $2, $3, $4, $5
        FROM delivery_attempts WHERE delivery_id = $1
        RETURNING id, attempt
        """,
        delivery_id,
        layer,
        route,
        worker,
        at,
    )
    return int(row["id"]), int(row["attempt"])


async def finish_attempt(
    conn: Any,
    attempt_id: int,
    *,
    at: datetime,
    outcome: str,
    error_class: str | None = None,
    error: str | None = None,
    bytes_sent: int | None = None,
) -> None:
    await conn.execute(
        "UPDATE delivery_attempts SET finished_at = $2, outcome = $3, error_class = $4, "
        "error = $5, bytes_sent = $6 WHERE id = $1",
        attempt_id,
        at,
        outcome,
        error_class,
        error,
        bytes_sent,
    )


async def retryable_failures(conn: Any, delivery_id: uuid.UUID, layer: str) -> int:
    """Network/platform failures of this delivery in ``layer`` so far (its tries)."""
    n: int = await conn.fetchval(
        "SELECT count(*) FROM delivery_attempts WHERE delivery_id = $1 AND layer = $2 "
        "AND error_class IN ('network', 'platform')",
        delivery_id,
        layer,
    )
    return n


async def attempts(conn: Any, delivery_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT attempt, layer, route, worker, started_at, finished_at, outcome, error_class, "
        "error, bytes_sent FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id",
        delivery_id,
    )
    return [dict(r) for r in rows]


async def get(conn: Any, delivery_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM deliveries WHERE id = $1", delivery_id)
    return dict(row) if row else None


async def find(conn: Any, prefix: str) -> list[dict[str, Any]]:
    """Deliveries whose id starts with ``prefix`` (operators type short ids)."""
    rows = await conn.fetch(
        "SELECT * FROM deliveries WHERE id::text LIKE $1 || '%' ORDER BY created_at LIMIT 5",
        prefix.lower(),
    )
    return [dict(r) for r in rows]


async def of_post(conn: Any, post_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM deliveries WHERE post_id = $1 ORDER BY platform, account", post_id
    )
    return [dict(r) for r in rows]


_CANCELLABLE_NOW = ("pending", "ready", "retry_wait", "suspended")


async def cancel(conn: Any, delivery_id: uuid.UUID, *, reason: str = "cancelled") -> str:
    """Cancel one delivery. Returns what happened: ``cancelled`` (not started or
    waiting), ``requested`` (in flight: cancelled at its next checkpoint),
    or the final state that made it impossible (``published``, ...)."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT post_id, state FROM deliveries WHERE id = $1 FOR UPDATE", delivery_id
        )
        if row is None:
            return "missing"
        state = row["state"]
        if state in _CANCELLABLE_NOW:
            await conn.execute(
                "UPDATE deliveries SET state = 'cancelled', state_reason = $2, wait_reason = NULL, "
                "last_error = $2, updated_at = now() WHERE id = $1",
                delivery_id,
                reason,
            )
            return "cancelled"
        if state in ("claimed", "uploading"):
            await conn.execute(
                "UPDATE deliveries SET cancel_requested = true, updated_at = now() WHERE id = $1",
                delivery_id,
            )
            await events.record(
                conn,
                "delivery.cancel_requested",
                post_id=row["post_id"],
                delivery_id=delivery_id,
                payload={"state": state},
            )
            return "requested"
        return str(state)  # publishing (may already be out), or final


async def resolve_manual(
    conn: Any, delivery_id: uuid.UUID, *, remote_id: str, url: str, at: datetime
) -> str | None:
    """Mark a ``manual`` (or failed) delivery published by hand; returns the old
    state, or None when it was not waiting for a person."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT post_id, state FROM deliveries WHERE id = $1 FOR UPDATE", delivery_id
        )
        if row is None or row["state"] not in ("manual", "failed"):
            return None
        await conn.execute(
            "UPDATE deliveries SET state = 'published', state_reason = 'resolved by operator', "
            "remote_id = $2, remote_url = $3, published_at = $4, outcome_unknown = false, "
            "layer = 'manual', updated_at = now() WHERE id = $1",
            delivery_id,
            remote_id,
            url,
            at,
        )
        return str(row["state"])


async def in_state(conn: Any, state: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT d.*, p.title, p.video_path FROM deliveries d JOIN posts p ON p.id = d.post_id "
        "WHERE d.state = $1 ORDER BY d.updated_at",
        state,
    )
    return [dict(r) for r in rows]
