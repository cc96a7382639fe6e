"""SQL for one delivery's life: fenced transitions, upload state, attempts, cancel.

Every write by a worker is *fenced* on ``lease_owner``: when the lease was lost
(expired and taken by another worker) the update touches no row and the caller
gets ``LeaseLost``, so a stale worker can never publish or overwrite anything.
State changes go through :func:`transition`; the state-machine trigger
(``store/states.py``) checks each edge and writes its ``delivery.state`` event.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pellacia.store import events
from pellacia.store.models import ClaimedDelivery, DeliveryState

if TYPE_CHECKING:
    import asyncpg


class LeaseLost(Exception):
    """This worker no longer holds the delivery's lease: stop touching it."""


class CancelRequested(Exception):
    """An operator asked to cancel this delivery; honoured at this checkpoint."""


async def transition(
    conn: Any,
    delivery_id: uuid.UUID,
    to: DeliveryState,
    *,
    owner: str,
    reason: str,
    release: bool = False,
    fields: Mapping[str, Any] | None = None,
    honour_cancel: bool = False,
) -> str:
    """Move a leased delivery to ``to`` (fenced) for ``reason``, in one transaction.

    The state-machine trigger refuses an undeclared edge and writes the
    ``delivery.state`` event with ``reason`` (the ``state_reason`` column).
    Returns the previous state. ``release`` drops the lease. ``fields`` are
    extra columns to set (trusted names from this package's callers only).
    ``honour_cancel``: raise ``CancelRequested`` instead when an operator asked
    to cancel (checked under the row lock, so a cancel never races a publish).
    """
    extra = dict(fields or {})
    sets = ["state = $2", "state_reason = $3", "updated_at = now()"]
    args: list[Any] = [delivery_id, to.value, reason]
    for name, value in extra.items():
        args.append(value)
        sets.append(f"{name} = ${len(args)}")
    if release:
        sets += ["lease_owner = NULL", "lease_until = NULL"]
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT state, lease_owner, cancel_requested FROM deliveries WHERE id = $1 FOR UPDATE",
            delivery_id,
        )
        if row is None or row["lease_owner"] != owner:
            raise LeaseLost(f"delivery {delivery_id}: lease no longer held by {owner}")
        if honour_cancel and row["cancel_requested"]:
            raise CancelRequested(str(delivery_id))
        # the state-machine trigger checks the edge and writes the event
        await conn.execute(f"UPDATE deliveries SET {', '.join(sets)} WHERE id = $1", *args)
    return str(row["state"])


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


@dataclass(frozen=True)
class LayerHistory:
    """What the audit trail says about one delivery's tries in one layer."""

    #: failed tries in a row (of the ``counted`` error classes) without progress
    failures: int
    #: when the layer's first try started (None: never tried)
    since: datetime | None
    #: most bytes any try of the delivery (any layer) reported acknowledged
    bytes_acked: int


async def layer_history(
    conn: Any, delivery_id: uuid.UUID, layer: str, counted: Iterable[str]
) -> LayerHistory:
    """The try budget's inputs: a try that got new bytes acknowledged starts the
    count of failures over (a large upload on a flaky network keeps going)."""
    rows = await conn.fetch(
        "SELECT layer, error_class, bytes_sent, started_at FROM delivery_attempts "
        "WHERE delivery_id = $1 ORDER BY id",
        delivery_id,
    )
    classes = set(counted)
    failures, acked, since = 0, 0, None
    for row in rows:
        sent = row["bytes_sent"] or 0
        if row["layer"] == layer:
            since = since or row["started_at"]
            if sent > acked:
                failures = 0
            elif row["error_class"] in classes:
                failures += 1
        acked = max(acked, sent)
    return LayerHistory(failures, since, acked)


async def last_vpn_route(conn: Any, platform: str, account: str) -> str | None:
    """The route the account's latest published '+vpn' try went out through (an
    account keeps its egress country: platforms flag logins that hop countries)."""
    route: str | None = await conn.fetchval(
        "SELECT a.route FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id "
        "WHERE d.platform = $1 AND d.account = $2 AND a.outcome = 'published' "
        "AND a.layer LIKE '%+vpn' ORDER BY a.id DESC LIMIT 1",
        platform,
        account,
    )
    return route


async def close_lost_attempts(
    conn: Any, delivery_ids: Iterable[uuid.UUID], at: datetime, outcome: str = "worker lost"
) -> int:
    """Close attempts a dead worker left open (killed mid-try): ``worker lost``
    (or ``outcome``, e.g. ``database lost``), with the bytes its delivery had
    saved. Returns how many were closed."""
    result: str = await conn.execute(
        "UPDATE delivery_attempts a SET finished_at = $2, outcome = $3, "
        "bytes_sent = coalesce(a.bytes_sent, d.bytes_sent) FROM deliveries d "
        "WHERE d.id = a.delivery_id AND a.delivery_id = ANY($1::uuid[]) "
        "AND a.finished_at IS NULL",
        list(delivery_ids),
        at,
        outcome,
    )
    return int(result.split()[-1])


#: the event of a remote upload session given up for a new one (it may linger
#: on the platform until it expires)
ORPHANED_UPLOAD = "delivery.upload_orphaned"


async def orphaned_uploads(conn: Any) -> int:
    """Remote upload sessions abandoned when a retry had to start over (``queue status``)."""
    # the literal matches the partial index of migration 0006
    n: int = await conn.fetchval(
        "SELECT count(*) FROM events WHERE kind = 'delivery.upload_orphaned'"
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


class HeldDelivery:
    """One claimed delivery's writes, all fenced on its lease, and its audit trail.

    What the executor writes about a delivery it holds goes through here: state
    changes, column updates (upload state, progress), events, and the
    ``delivery_attempts`` row of each try. ``state`` follows the row.
    """

    def __init__(self, pool: asyncpg.Pool, claimed: ClaimedDelivery, owner: str) -> None:
        self.pool = pool
        self.claimed = claimed
        self.owner = owner
        self.state = DeliveryState.CLAIMED
        self.attempt_id: int | None = None

    async def transition(
        self,
        to: DeliveryState,
        *,
        reason: str,
        release: bool = False,
        fields: Mapping[str, Any] | None = None,
        honour_cancel: bool = False,
        attempt: Mapping[str, Any] | None = None,
    ) -> None:
        """See :func:`transition`; ``attempt`` (``finish_attempt``'s keywords)
        closes the open attempt in the same transaction."""
        async with self.pool.acquire() as conn, conn.transaction():
            await transition(
                conn,
                self.claimed.id,
                to,
                owner=self.owner,
                reason=reason,
                release=release,
                fields=fields,
                honour_cancel=honour_cancel,
            )
            if attempt is not None and self.attempt_id is not None:
                await finish_attempt(conn, self.attempt_id, **attempt)
                self.attempt_id = None
        self.state = to

    async def update(self, **fields: Any) -> bool:
        """Set columns (no state change); returns whether a cancel was requested."""
        async with self.pool.acquire() as conn:
            return await update_fenced(conn, self.claimed.id, owner=self.owner, fields=fields)

    async def event(self, kind: str, **payload: Any) -> None:
        async with self.pool.acquire() as conn:
            await events.record(
                conn,
                kind,
                post_id=self.claimed.post_id,
                delivery_id=self.claimed.id,
                payload=payload,
            )

    async def start_attempt(self, *, layer: str, route: str | None, at: datetime) -> None:
        async with self.pool.acquire() as conn:
            self.attempt_id, _ = await start_attempt(
                conn, self.claimed.id, layer=layer, route=route, worker=self.owner, at=at
            )

    async def finish_attempt(
        self,
        *,
        at: datetime,
        outcome: str,
        error_class: str | None = None,
        error: str | None = None,
        bytes_sent: int | None = None,
    ) -> None:
        """Close the open attempt row, if any."""
        if self.attempt_id is None:
            return
        async with self.pool.acquire() as conn:
            await finish_attempt(
                conn,
                self.attempt_id,
                at=at,
                outcome=outcome,
                error_class=error_class,
                error=error,
                bytes_sent=bytes_sent,
            )
        self.attempt_id = None

    async def layer_history(self, layer: str, counted: Iterable[str]) -> LayerHistory:
        async with self.pool.acquire() as conn:
            return await layer_history(conn, self.claimed.id, layer, counted)

    async def last_vpn_route(self) -> str | None:
        async with self.pool.acquire() as conn:
            return await last_vpn_route(conn, self.claimed.platform, self.claimed.account)

    async def close_lost_attempts(self, at: datetime) -> None:
        """Attempts of this delivery still open belong to a holder that died."""
        async with self.pool.acquire() as conn:
            await close_lost_attempts(conn, [self.claimed.id], at)

    async def package_inputs(
        self,
    ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        """(delivery row, post row, attempts) for the manual package."""
        from pellacia.store import posts

        async with self.pool.acquire() as conn:
            delivery = await get(conn, self.claimed.id)
            post = await posts.get(conn, self.claimed.post_id)
            tries = await attempts(conn, self.claimed.id)
        assert delivery is not None and post is not None
        return delivery, post, tries
