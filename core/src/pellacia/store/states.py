"""The delivery state machine: every allowed transition, declared once.

This table is the only place that says which state may follow which. The
database enforces it: migration 0004 installs a trigger on ``deliveries``
that refuses any state change whose (from, to) pair is not in the
``delivery_transitions`` table, and writes the ``delivery.state`` event of
every state change in the same transaction. :func:`sync` copies this table
into ``delivery_transitions`` each time migrations run, so the Python
declaration and the enforcement can never drift.

Writers therefore never record ``delivery.state`` events themselves. They set
``state_reason`` together with ``state``; the event's payload carries it as
``reason`` beside ``from``, ``to``, the worker holding the lease, the layer
and, where they apply, the remote id/URL and the time the delivery is due.
Deleting a delivery (``queue clear``) writes ``delivery.cleared``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pellacia.store.models import DeliveryState as S

#: (from, to) -> the operation that makes this change (for people and tests)
TRANSITIONS: Mapping[tuple[S, S], str] = {
    # a worker takes a due delivery (the queue's claim)
    **{(s, S.CLAIMED): "claim" for s in (S.PENDING, S.READY, S.RETRY_WAIT, S.SUSPENDED)},
    # an operator cancels one that has not started or is waiting
    **{(s, S.CANCELLED): "cancel" for s in (S.PENDING, S.READY, S.RETRY_WAIT, S.SUSPENDED)},
    # the executor's way through one claim
    (S.CLAIMED, S.UPLOADING): "upload",
    (S.CLAIMED, S.PUBLISHING): "publish",  # the bytes were already in (receipt kept)
    (S.UPLOADING, S.PUBLISHING): "publish",
    (S.CLAIMED, S.PUBLISHED): "reconcile",  # the post was already there
    (S.UPLOADING, S.PUBLISHED): "reconcile",
    (S.PUBLISHING, S.PUBLISHED): "published",
    **{(s, S.RETRY_WAIT): "park" for s in (S.CLAIMED, S.UPLOADING, S.PUBLISHING)},
    **{(s, S.FAILED): "fail" for s in (S.CLAIMED, S.UPLOADING, S.PUBLISHING)},
    **{(s, S.MANUAL): "to-manual" for s in (S.CLAIMED, S.UPLOADING, S.PUBLISHING)},
    # cancel honoured at a checkpoint (never once publishing: it may be out)
    (S.CLAIMED, S.CANCELLED): "cancel",
    (S.UPLOADING, S.CANCELLED): "cancel",
    # breaking news pre-empts a normal upload; it resumes from its saved state
    (S.CLAIMED, S.SUSPENDED): "suspend",
    (S.UPLOADING, S.SUSPENDED): "suspend",
    # back to the queue: shutdown, lease expired (sweep), checkpoint on stop
    **{(s, S.READY): "release" for s in (S.CLAIMED, S.UPLOADING, S.PUBLISHING)},
    # a person: resolve with the post's URL, or queue it again
    (S.MANUAL, S.PUBLISHED): "resolve",
    (S.FAILED, S.PUBLISHED): "resolve",
    (S.MANUAL, S.READY): "retry",
    (S.FAILED, S.READY): "retry",
}

#: states whose deliveries ``queue clear`` may delete
CLEARABLE: frozenset[S] = frozenset({S.FAILED, S.CANCELLED, S.MANUAL})


class IllegalTransition(Exception):
    """A state change the table above does not allow (the database refused it)."""


def allowed(frm: S | str, to: S | str) -> bool:
    """Whether ``frm → to`` is a declared transition."""
    return (S(frm), S(to)) in TRANSITIONS


def targets(frm: S | str) -> frozenset[S]:
    """Every state that may follow ``frm``."""
    return frozenset(to for (f, to) in TRANSITIONS if f == S(frm))


async def sync(conn: Any) -> None:
    """Make ``delivery_transitions`` hold exactly :data:`TRANSITIONS` (one transaction)."""
    rows = [(f.value, t.value, op) for (f, t), op in sorted(TRANSITIONS.items())]
    async with conn.transaction():
        await conn.execute("DELETE FROM delivery_transitions")
        await conn.executemany(
            "INSERT INTO delivery_transitions (from_state, to_state, operation) "
            "VALUES ($1, $2, $3)",
            rows,
        )


async def declared_in_database(conn: Any) -> set[tuple[str, str]]:
    """The (from, to) pairs the database currently enforces."""
    rows = await conn.fetch("SELECT from_state, to_state FROM delivery_transitions")
    return {(r["from_state"], r["to_state"]) for r in rows}
