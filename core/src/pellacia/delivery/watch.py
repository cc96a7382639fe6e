"""``upload --wait``: watch one post's deliveries until each one ends.

The deliveries are run by the one worker (:class:`pellacia.scheduling.worker.Worker`),
in this process unless ``--no-local-worker``: it claims through the same queue as
``pellacia-dist worker`` (priority, spacing, quotas, leases, breaking-news
pre-emption, lease loss all behave the same), and is stopped — checkpointing
anything unfinished — once every delivery of the post is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pellacia.store import deliveries as delivery_store
from pellacia.store.models import FINAL, DeliveryState

if TYPE_CHECKING:
    import asyncpg

    from pellacia.scheduling.worker import Worker

POLL_SECONDS = 0.3


@dataclass(frozen=True)
class DeliveryView:
    """One delivery as ``--wait`` shows it."""

    id: uuid.UUID
    platform: str
    account: str
    state: str
    bytes_sent: int
    bytes_total: int
    wait_reason: str | None
    due_at: datetime
    remote_url: str | None
    last_error: str | None
    outcome_unknown: bool
    manual_package: str | None

    @property
    def final(self) -> bool:
        return DeliveryState(self.state) in FINAL

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["id"] = str(self.id)
        out["due_at"] = self.due_at.isoformat()
        return out


class LiveProgress:
    """The worker's progress callback: bytes sent as reported between saved chunks."""

    def __init__(self) -> None:
        self.sent: dict[str, tuple[int, int]] = {}

    def __call__(self, delivery_id: str, sent: int, total: int) -> None:
        self.sent[delivery_id] = (sent, total)

    def apply(self, views: list[DeliveryView]) -> list[DeliveryView]:
        out = []
        for v in views:
            live = self.sent.get(str(v.id))
            if live is not None and not v.final and live[0] > v.bytes_sent:
                v = dataclasses.replace(v, bytes_sent=live[0], bytes_total=live[1])
            out.append(v)
        return out


async def snapshot(pool: asyncpg.Pool, post_id: uuid.UUID) -> list[DeliveryView]:
    from pellacia.clock import SYSTEM_CLOCK
    from pellacia.store import queue

    async with pool.acquire() as conn:
        rows = await delivery_store.of_post(conn, post_id)
        # why each waits now (spacing, breaking, blocks are computed on read)
        waits = await queue.waits(conn, SYSTEM_CLOCK.now(), [r["id"] for r in rows])
    return [
        DeliveryView(
            id=r["id"],
            platform=r["platform"],
            account=r["account"],
            state=r["state"],
            bytes_sent=r["bytes_sent"] or 0,
            bytes_total=r["bytes_total"] or 0,
            wait_reason=waits[r["id"]].reason if r["id"] in waits else None,
            due_at=r["due_at"],
            remote_url=r["remote_url"],
            last_error=r["last_error"],
            outcome_unknown=r["outcome_unknown"],
            manual_package=r["manual_package"],
        )
        for r in rows
    ]


async def watch_post(
    pool: asyncpg.Pool,
    post_id: uuid.UUID,
    *,
    worker: Worker | None,
    render: Callable[[list[DeliveryView]], None],
    live: LiveProgress | None = None,
) -> list[DeliveryView]:
    """Show the post's deliveries until every one is final, running ``worker``
    meanwhile; the worker is stopped (unfinished work checkpointed) on return."""
    task = asyncio.create_task(worker.run()) if worker is not None else None
    try:
        while True:
            views = await snapshot(pool, post_id)
            if live is not None:
                views = live.apply(views)
            render(views)
            if all(v.final for v in views):
                return views
            if task is not None and task.done():
                task.result()  # a crashed worker surfaces here
                task = None
            await asyncio.sleep(POLL_SECONDS)
    finally:
        if task is not None and worker is not None:
            worker.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await task
