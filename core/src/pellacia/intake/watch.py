"""Watch folders: file events (watchfiles) plus a periodic rescan, until stopped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from pellacia.intake.folder import FolderIntake
from pellacia.log import get_logger
from pellacia.store.pool import OUTAGE_RETRY_SECONDS, database_health, is_unavailable

log = get_logger("pellacia.intake")


async def watch(
    intakes: Sequence[FolderIntake],
    *,
    rescan_seconds: float,
    settle_seconds: float,
    stop: asyncio.Event,
) -> None:
    """Scan every folder on start, on each file event, and every ``rescan_seconds``
    (sooner while a video settles), until ``stop`` is set."""
    from watchfiles import awatch

    changed = asyncio.Event()
    health = database_health()

    async def events() -> None:
        folders = [str(i.folder) for i in intakes if i.folder.is_dir()]
        if not folders:
            return
        async for _ in awatch(*folders, stop_event=stop, recursive=False):
            changed.set()

    listener = asyncio.create_task(events())
    try:
        while not stop.is_set():
            changed.clear()
            waiting, database_away = False, False
            for intake in intakes:
                try:
                    waiting = bool((await intake.scan()).waiting) or waiting
                except Exception as exc:  # the database may be back next time
                    if is_unavailable(exc):  # said once per outage; the files wait
                        health.lost(exc, where=f"intake {intake.folder}")
                        database_away = True
                    else:
                        log.warning(
                            "intake scan failed", folder=str(intake.folder), error=repr(exc)
                        )
            wait = min(rescan_seconds, max(settle_seconds, 0.5)) if waiting else rescan_seconds
            if database_away:  # look again soon: items that came meanwhile are waiting
                wait = min(wait, OUTAGE_RETRY_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_either(changed, stop), wait)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


async def _either(a: asyncio.Event, b: asyncio.Event) -> None:
    tasks = [asyncio.create_task(a.wait()), asyncio.create_task(b.wait())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
