"""The delivery state machine: declared once, enforced by the database, every
change written to the outbox in the same transaction."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from pellacia.config import SpacingSettings
from pellacia.scheduling.testing import enqueue
from pellacia.store import deliveries, events, queue, states
from pellacia.store.models import DeliveryState
from pellacia.store.pool import connect_one

ALL = list(DeliveryState)
FREE = SpacingSettings(min_interval=0, jitter=0)


@pytest.fixture
async def conn(pg_dsn: str) -> Any:
    connection = await connect_one(pg_dsn)
    yield connection
    await connection.close()


async def _delivery_in(conn: Any, state: DeliveryState) -> uuid.UUID:
    """A new delivery in ``state`` (a published one got there from claimed)."""
    first = DeliveryState.CLAIMED if state == DeliveryState.PUBLISHED else state
    [did] = await enqueue(conn, platforms=["p"], due_at=datetime.now(UTC), state=first.value)
    if first != state:
        await conn.execute(
            "UPDATE deliveries SET state = 'published', remote_id = 'r0' WHERE id = $1", did
        )
    return did


async def _state_events(conn: Any, did: uuid.UUID) -> list[dict[str, Any]]:
    return [
        e["payload"] for e in await events.for_delivery(conn, did) if e["kind"] == "delivery.state"
    ]


async def test_the_database_enforces_exactly_the_declared_table(conn: Any) -> None:
    declared = {(f.value, t.value) for f, t in states.TRANSITIONS}
    assert await states.declared_in_database(conn) == declared
    # every state that is not final can be left, every state can be reached
    assert {f for f, _ in states.TRANSITIONS} == set(ALL) - {
        DeliveryState.PUBLISHED,
        DeliveryState.CANCELLED,
    }
    assert {t for _, t in states.TRANSITIONS} == set(ALL) - {DeliveryState.PENDING}


async def test_every_edge_declared_or_refused(conn: Any) -> None:
    """Walk every ordered pair of states: a declared edge is taken with exactly
    one event; an undeclared one is refused and leaves no trace."""
    change = (
        "UPDATE deliveries SET state = $2, state_reason = 'walk', remote_id = 'r' WHERE id = $1"
    )
    for frm, to in itertools.product(ALL, ALL):
        if frm == to:
            continue
        did = await _delivery_in(conn, frm)
        before = await _state_events(conn, did)
        if states.allowed(frm, to):
            await conn.execute(change, did, to.value)
            [event] = (await _state_events(conn, did))[len(before) :]
            assert (event["from"], event["to"], event["reason"]) == (frm.value, to.value, "walk")
            assert ("remote_id" in event) == (to == DeliveryState.PUBLISHED)
            assert ("due_at" in event) == (to == DeliveryState.RETRY_WAIT)
        else:
            with pytest.raises(asyncpg.CheckViolationError, match=f"from {frm} to {to}"):
                await conn.execute(change, did, to.value)
            row = await conn.fetchrow("SELECT state FROM deliveries WHERE id = $1", did)
            assert row["state"] == frm.value
            assert await _state_events(conn, did) == before


async def test_creation_and_clear_are_in_the_outbox(conn: Any) -> None:
    did = await _delivery_in(conn, DeliveryState.FAILED)
    assert (await _state_events(conn, did))[0]["to"] == "failed"
    await conn.execute("DELETE FROM deliveries WHERE id = $1", did)
    kinds = [e["kind"] for e in await events.for_delivery(conn, did)]
    assert kinds == ["delivery.state", "delivery.cleared"]


async def test_store_operations_write_their_events(conn: Any) -> None:
    """Claim, transition, release, recovery, cancel and resolve through the
    store's own functions: each change has its event, with its reason."""
    now = datetime.now(UTC)
    [a] = await enqueue(conn, platforms=[("p", "a")], due_at=now)
    [b] = await enqueue(conn, platforms=[("p", "b")], due_at=now)
    [c] = await enqueue(conn, platforms=[("p", "c")], due_at=now)
    claimed = await queue.claim(
        conn, worker_id="w", now=now, lease_seconds=15, limit=3, spacing=lambda _p: FREE
    )
    held = {d.id: d for d in claimed}
    assert set(held) == {a, b, c}

    await deliveries.transition(conn, a, DeliveryState.UPLOADING, owner="w", reason="go")
    await deliveries.transition(
        conn, a, DeliveryState.MANUAL, owner="w", release=True, reason="needs a person"
    )
    assert await deliveries.resolve_manual(
        conn, a, remote_id="x1", url="https://example.invalid/x1", at=now
    )
    assert await queue.release(conn, [b], "w") == [b]
    assert await deliveries.cancel(conn, b, reason="not today") == "cancelled"
    assert await queue.recover_expired(conn, now + timedelta(minutes=5)) == [c]

    def path(evs: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
        return [(e["from"], e["to"]) for e in evs]

    evs_a = await _state_events(conn, a)
    assert path(evs_a) == [
        (None, "ready"),
        ("ready", "claimed"),
        ("claimed", "uploading"),
        ("uploading", "manual"),
        ("manual", "published"),
    ]
    assert [e.get("reason") for e in evs_a[2:]] == ["go", "needs a person", "resolved by operator"]
    assert evs_a[-1]["remote_id"] == "x1"
    assert path(await _state_events(conn, b)) == [
        (None, "ready"),
        ("ready", "claimed"),
        ("claimed", "ready"),
        ("ready", "cancelled"),
    ]
    assert path(await _state_events(conn, c))[-1] == ("claimed", "ready")
    for did in (a, b, c):
        for edge in path(await _state_events(conn, did))[1:]:
            assert states.allowed(*edge), edge  # type: ignore[arg-type]
