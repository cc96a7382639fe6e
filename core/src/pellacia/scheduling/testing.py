"""Helpers for tests and benchmarks: put posts and deliveries straight in the queue.

Not the product's insert path (that one probes the video and validates); this
writes the rows the scheduler works on, nothing more.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

_POST = """
INSERT INTO posts (id, video_path, video_sha256, video_size, media, title, priority,
                   scheduled_at, is_test)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true)
"""
_DELIVERY = """
INSERT INTO deliveries (id, post_id, platform, account, state, priority, due_at,
                        idempotency_key)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""


async def enqueue(
    conn: Any,
    *,
    platforms: Sequence[str] | Sequence[tuple[str, str]],
    due_at: datetime,
    breaking: bool = False,
    title: str = "test post",
    video_path: str = "/dev/null",
    video_size: int = 1,
    video_sha256: str = "0" * 64,
    media: dict[str, Any] | None = None,
    state: str = "ready",
) -> list[uuid.UUID]:
    """One post with a delivery per platform (or (platform, account)); their ids."""
    post_id = uuid.uuid4()
    ids: list[uuid.UUID] = []
    async with conn.transaction():
        await conn.execute(
            _POST,
            post_id,
            video_path,
            video_sha256,
            video_size,
            media or {},
            title,
            "breaking" if breaking else "normal",
            due_at,
        )
        for target in platforms:
            platform, account = (target, "default") if isinstance(target, str) else target
            delivery_id = uuid.uuid4()
            await conn.execute(
                _DELIVERY,
                delivery_id,
                post_id,
                platform,
                account,
                state,
                1 if breaking else 0,
                due_at,
                f"{post_id}:{platform}:{account}",
            )
            ids.append(delivery_id)
    return ids


def media_of(path: str | Path) -> dict[str, Any]:
    """The ``posts.media`` JSON of a real video file (probed)."""
    from pellacia.media import media_json, probe

    return media_json(probe(Path(path)))


async def wait_until(
    dsn: str, query: str, *args: Any, within: float = 30.0, expect: Any = True
) -> Any:
    """Wait until ``query`` returns ``expect``, re-checking on every queue
    notification (deliveries finishing, becoming due) — no sleeping loop.
    Raises ``TimeoutError`` with the last value seen."""
    import asyncio

    from pellacia.store.pool import connect_one
    from pellacia.store.queue import QUEUE_CHANNEL

    conn = await connect_one(dsn)
    changed = asyncio.Event()
    await conn.add_listener(QUEUE_CHANNEL, lambda *_: changed.set())
    last: Any = None
    try:
        async with asyncio.timeout(within):
            while True:
                changed.clear()
                last = await conn.fetchval(query, *args)
                if last == expect:
                    return last
                await changed.wait()
    except TimeoutError:
        raise TimeoutError(f"still {last!r} after {within}s: {query}") from None
    finally:
        await conn.close()
