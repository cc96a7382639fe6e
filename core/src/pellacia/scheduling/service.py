"""Queue services shared by the CLI (``queue status|clear|retry``) and the REST API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pellacia.delivery.errors import BadInput, NotFound
from pellacia.store import accounts as store_accounts
from pellacia.store import deliveries, queue, states
from pellacia.store import status as store_status
from pellacia.store.models import DISPATCHABLE, IN_FLIGHT

CLEARABLE = tuple(sorted(s.value for s in states.CLEARABLE))
#: the states ``queue retry`` puts back in the queue (the declared retry edges)
RETRYABLE = tuple(sorted(f.value for (f, _), op in states.TRANSITIONS.items() if op == "retry"))
QUEUED = tuple(sorted(DISPATCHABLE))


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
    paused: bool = False  # held back by an operator (``account pause``)
    paused_until: datetime | None = None  # None while paused: until resumed
    pause_reason: str | None = None


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
    #: remote upload sessions given up for a new one (they expire on the platform)
    orphaned_uploads: int = 0

    def to_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "now": iso(self.now),
            "counts": self.counts,
            "next_due": iso(self.next_due),
            "orphaned_uploads": self.orphaned_uploads,
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
                    "paused": a.paused,
                    "paused_until": iso(a.paused_until),
                    "pause_reason": a.pause_reason,
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


#: at most this many waiting deliveries are listed
WAITING_SHOWN = 200


def _accounts(
    now: datetime,
    slots: list[Any],
    per_account: dict[tuple[str, str], dict[str, int]],
    paused: set[tuple[str, str]],
    blocks: list[Any],
) -> list[AccountWindow]:
    by_key: dict[tuple[str, str], tuple[datetime, str | None]] = {}
    for b in blocks:
        key = (b["platform"], b["account"])
        if key not in by_key or b["until"] > by_key[key][0]:
            by_key[key] = (b["until"], b["reason"])
    windows = []
    for r in slots:
        key = (r["platform"], r["account"])
        block = max(
            (b for b in (by_key.get(key), by_key.get((r["platform"], "*"))) if b is not None),
            key=lambda b: b[0],
            default=None,
        )
        states = per_account.get(key, {})
        windows.append(
            AccountWindow(
                platform=r["platform"],
                account=r["account"],
                next_at=r["next_at"] if r["next_at"] and r["next_at"] > now else None,
                last_dispatch_at=r["last_dispatch_at"],
                in_flight=sum(states.get(s, 0) for s in IN_FLIGHT),
                queued=sum(states.get(s, 0) for s in QUEUED),
                breaking_active=key in paused,
                blocked_until=block[0] if block else None,
                block_reason=block[1] if block else None,
            )
        )
    return windows


async def queue_status(conn: Any, now: datetime) -> QueueStatus:
    """Counts per platform and state, next due time, account windows, waits, budgets."""
    status = QueueStatus(now=now)
    per_account: dict[tuple[str, str], dict[str, int]] = {}
    for r in await store_status.counts(conn):
        by_state = status.counts.setdefault(r["platform"], {})
        by_state[r["state"]] = by_state.get(r["state"], 0) + r["n"]
        per_account.setdefault((r["platform"], r["account"]), {})[r["state"]] = r["n"]
    status.counts = {p: dict(sorted(c.items())) for p, c in sorted(status.counts.items())}
    status.next_due = await queue.next_due(conn, now)
    status.orphaned_uploads = await deliveries.orphaned_uploads(conn)
    status.accounts = _accounts(
        now,
        await store_status.slots(conn),
        per_account,
        await store_status.breaking_paused(conn, now),
        await store_status.blocks(conn, now),
    )
    held = await store_accounts.paused(conn, now)
    status.accounts = [
        replace(a, paused=True, paused_until=p.until, pause_reason=p.reason)
        if (p := held.get((a.platform, a.account)))
        else a
        for a in status.accounts
    ]
    status.waiting = [
        Waiting(
            id=r["id"],
            platform=r["platform"],
            account=r["account"],
            state=r["state"],
            due_at=r["due_at"],
            reason=r["reason"],
            until=r["until"],
        )
        for r in await queue.waiting(conn, now, WAITING_SHOWN)
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
        for r in await store_status.budgets(conn, now)
    ]
    return status


async def clear(conn: Any, state: str) -> int:
    """Delete deliveries in ``state`` (failed, cancelled or manual) and posts left
    without any delivery; returns how many deliveries went."""
    if state not in CLEARABLE:
        raise BadInput(f"only {', '.join(CLEARABLE)} deliveries can be cleared, not {state!r}")
    return await store_status.clear(conn, state)


async def find_delivery(conn: Any, text: str) -> uuid.UUID:
    """A delivery id from its full text or a unique prefix."""
    text = text.strip().lower()
    try:
        return uuid.UUID(text)
    except ValueError:
        pass
    if len(text) < 4:
        raise BadInput("give at least 4 characters of the delivery id")
    found = await store_status.ids_starting_with(conn, text)
    if not found:
        raise NotFound(f"no delivery with id {text}")
    if len(found) > 1:
        raise BadInput(f"{text} matches several deliveries; give more of the id")
    return found[0]


async def retry(conn: Any, delivery_id: uuid.UUID, now: datetime) -> str:
    """Put a failed or manual delivery back in the queue, due now.

    Upload state and receipt are kept (the upload resumes), the fallback chain
    starts over, and ``outcome_unknown`` stays so a possible earlier publish is
    reconciled first. Returns the state it had.
    """
    previous = await store_status.retry(conn, delivery_id, now, RETRYABLE)
    if previous is None:
        raise NotFound(f"no delivery with id {delivery_id}")
    if previous not in RETRYABLE:
        raise BadInput(
            f"delivery {delivery_id} is {previous}; only failed or manual ones are retried"
        )
    return previous
