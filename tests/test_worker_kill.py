"""SIGKILL a worker mid-upload; a new worker resumes from the checkpoint, no duplicate."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pellacia.scheduling.testing import enqueue, media_of, wait_until
from pellacia.store.pool import connect_one
from pellacia.testing.videos import make_video

CHUNK = 16 * 1024


def _config(path: Path, dsn: str, fake: Any) -> Path:
    path.write_text(
        f'database_url = "{dsn}"\n'
        f'data_dir = "{path.parent}"\n'
        f'sandbox_url = "{fake.url}"\n'
        "lease_seconds = 2\n"
        "[spacing]\nmin_interval = 0\njitter = 0\n"
        '[chains]\ntestplatform = ["api", "manual"]\n'
        "[plugins.testplatform]\n"
        f'base_url = "{fake.base_url}"\n'
        f'access_token = "tp-token-static"\nchunk_size = {CHUNK}\n'
    )
    return path


async def _start_worker(config: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "pellacia-dist"),
        "worker",
        env={**os.environ, "PELLACIA_CONFIG": str(config)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def test_killed_worker_upload_resumes_in_a_new_worker(
    testplatform: Any, pg_dsn: str, tmp_path: Path
) -> None:
    video = make_video(tmp_path / "clip.mp4", seconds=1.0, width=160, height=120, noise=True)
    media = media_of(video)
    size = media["size"]
    config = _config(tmp_path / "config.toml", pg_dsn, testplatform)
    conn = await connect_one(pg_dsn)
    try:
        [delivery] = await enqueue(
            conn,
            platforms=["testplatform"],
            due_at=datetime.now(UTC),
            video_path=str(video),
            video_size=size,
            media=media,
        )
    finally:
        await conn.close()

    testplatform.chunk_delay = 0.05
    first = await _start_worker(config)
    second: asyncio.subprocess.Process | None = None
    try:
        while testplatform.bytes_received < 4 * CHUNK:
            testplatform.chunk_event.clear()
            await asyncio.wait_for(testplatform.chunk_event.wait(), 30)
        first.send_signal(signal.SIGKILL)
        await asyncio.wait_for(first.wait(), 10)
        sent_before = testplatform.bytes_received
        assert sent_before < size  # killed mid-upload

        second = await _start_worker(config)
        await wait_until(
            pg_dsn,
            "SELECT state FROM deliveries WHERE id = $1",
            delivery,
            expect="published",
            within=60,
        )
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 30) == 0
    finally:
        for proc in (first, second):
            if proc is not None and proc.returncode is None:
                proc.kill()
                await proc.wait()

    conn = await connect_one(pg_dsn)
    try:
        row = await conn.fetchrow("SELECT * FROM deliveries WHERE id = $1", delivery)
        tries = await conn.fetch(
            "SELECT outcome, finished_at FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id",
            delivery,
        )
    finally:
        await conn.close()
    # the attempt the kill cut off is closed by the recovery, not left open
    assert [t["outcome"] for t in tries] == ["worker lost", "published"]
    assert all(t["finished_at"] is not None for t in tries)
    assert row["attempts"] == 2  # claimed by the dead worker, then by the new one
    assert len(testplatform.posts_for(row["idempotency_key"])) == 1
    assert testplatform.posts_created == 1
    assert len(testplatform.uploads) == 1  # the same upload session, resumed
    assert testplatform.bytes_received < 2 * size  # not restarted from zero


async def test_manual_entry_after_a_worker_died_mid_upload_says_outcome_unknown(
    testplatform: Any, pg_dsn: str, tmp_path: Path
) -> None:
    """The dead worker may have sent the last chunk (TikTok and YouTube publish on
    it): when the next try can only hand the delivery to a person (its token is
    refused), the entry says "check before reposting", not "post it by hand"."""
    video = make_video(tmp_path / "clip.mp4", seconds=1.0, width=160, height=120, noise=True)
    config = _config(tmp_path / "config.toml", pg_dsn, testplatform)
    conn = await connect_one(pg_dsn)
    try:
        [delivery] = await enqueue(
            conn,
            platforms=["testplatform"],
            due_at=datetime.now(UTC),
            video_path=str(video),
            video_size=video.stat().st_size,
            media=media_of(video),
        )
    finally:
        await conn.close()
    testplatform.chunk_delay = 0.05
    first = await _start_worker(config)
    second: asyncio.subprocess.Process | None = None
    try:
        while testplatform.bytes_received < 2 * CHUNK:
            testplatform.chunk_event.clear()
            await asyncio.wait_for(testplatform.chunk_event.wait(), 30)
        first.send_signal(signal.SIGKILL)
        await asyncio.wait_for(first.wait(), 10)
        testplatform.fail("401", times=1000)  # the token is refused from now on
        second = await _start_worker(config)
        await wait_until(
            pg_dsn, "SELECT state FROM deliveries WHERE id = $1", delivery, expect="manual",
            within=60,
        )  # fmt: skip
    finally:
        for proc in (first, second):
            if proc is not None and proc.returncode is None:
                proc.kill()
                await proc.wait()
    conn = await connect_one(pg_dsn)
    try:
        row = await conn.fetchrow("SELECT * FROM deliveries WHERE id = $1", delivery)
    finally:
        await conn.close()
    assert row["outcome_unknown"], row["last_error"]
    assert row["last_error"].startswith("outcome unknown"), row["last_error"]
