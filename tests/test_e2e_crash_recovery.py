"""Never lost, never twice: `pellacia-dist worker` processes killed with SIGKILL
mid-upload and mid-publish; another worker finishes the job from the database."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pellacia.delivery.service import create_post
from pellacia.plugins import load_plugins
from pellacia.store.pool import create_pool
from pellacia.testing.videos import make_video
from pellacia_testplatform.fake import FakeTestPlatform
from pellacia_testplatform.fixtures import settings_for

CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("v") / "clip.mp4", seconds=1.0, noise=True)


@pytest.fixture
def config(tmp_path: Path, testplatform: FakeTestPlatform) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
data_dir = "{tmp_path / "data"}"
lease_seconds = 2

[plugins.testplatform]
base_url = "{testplatform.base_url}"
access_token = "tp-token-static"
chunk_size = {CHUNK}

[chains]
testplatform = ["api", "manual"]

[spacing]
min_interval = 0
jitter = 0
"""
    )
    return path


@pytest.fixture
async def workers(config: Path, pg_dsn: str) -> AsyncIterator[Callable[[], Any]]:
    started: list[asyncio.subprocess.Process] = []
    env = {**os.environ, "DATABASE_URL": pg_dsn, "PELLACIA_CONFIG": str(config)}

    async def start() -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from pellacia.cli.main import main; main()",
            "worker",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def _wait_for(condition: Callable[[], Any], event: asyncio.Event) -> None:
    """Re-check ``condition`` each time ``event`` fires, for at most 30 s."""
    async with asyncio.timeout(30):
        while True:
            event.clear()
            if await condition():
                return
            await event.wait()


async def _queue_events(pool: Any) -> tuple[Any, asyncio.Event]:
    """An event set by every queue notification (a delivery left an in-flight state)."""
    event = asyncio.Event()
    conn = await pool.acquire()
    await conn.add_listener("pellacia_queue", lambda *_: event.set())
    return conn, event


async def _close(pool: Any, listener: Any) -> None:
    await listener.reset()  # drops the listener before the connection goes back
    await pool.release(listener)
    await pool.close()


async def _submit(pg_dsn: str, testplatform: FakeTestPlatform, video: Path, tmp: Path) -> Any:
    pool = await create_pool(pg_dsn, max_size=2)
    settings = settings_for(testplatform, tmp / "data")
    created = await create_post(
        pool, load_plugins(), settings, file=video, platforms="testplatform", title="Crash"
    )
    return pool, created.deliveries[0].id


async def _state(pool: Any, did: uuid.UUID) -> str:
    state: str = await pool.fetchval("SELECT state FROM deliveries WHERE id = $1", did)
    return state


async def test_killed_mid_upload_resumes_from_saved_chunk(
    workers: Callable[[], Any],
    pg_dsn: str,
    testplatform: FakeTestPlatform,
    video: Path,
    tmp_path: Path,
) -> None:
    testplatform.chunk_delay = 0.05
    first = await workers()
    pool, did = await _submit(pg_dsn, testplatform, video, tmp_path)
    listener, changed = await _queue_events(pool)
    try:

        async def some_chunks_in() -> bool:
            return testplatform.bytes_received >= 6 * CHUNK

        await _wait_for(some_chunks_in, testplatform.call_event)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        received_at_crash = testplatform.bytes_received
        testplatform.chunk_delay = 0
        await workers()

        async def published() -> bool:
            return await _state(pool, did) == "published"

        await _wait_for(published, changed)
        size = (await pool.fetchrow("SELECT video_size FROM posts"))["video_size"]
        assert testplatform.posts_created == 1 and len(testplatform.uploads) == 1
        # resumed: only what was not yet acknowledged was sent again (at most one chunk)
        assert testplatform.bytes_received <= size + CHUNK
        assert received_at_crash >= 6 * CHUNK
    finally:
        await _close(pool, listener)


async def test_killed_after_publish_went_out_reconciles_no_duplicate(
    workers: Callable[[], Any],
    pg_dsn: str,
    testplatform: FakeTestPlatform,
    video: Path,
    tmp_path: Path,
) -> None:
    testplatform.fail("hang-after", op="publish")  # the post is created, the answer never comes
    first = await workers()
    pool, did = await _submit(pg_dsn, testplatform, video, tmp_path)
    listener, changed = await _queue_events(pool)
    try:

        async def post_created() -> bool:
            return testplatform.posts_created == 1

        await _wait_for(post_created, testplatform.call_event)
        assert await _state(pool, did) == "publishing"
        first.send_signal(signal.SIGKILL)
        await first.wait()
        await workers()  # its sweep recovers the expired lease, reconciles, finds the post

        async def published() -> bool:
            return await _state(pool, did) == "published"

        await _wait_for(published, changed)
        row = await pool.fetchrow("SELECT remote_id FROM deliveries WHERE id = $1", did)
        assert row["remote_id"] == testplatform.posts[0].id
        assert testplatform.posts_created == 1 and testplatform.calls["publish"] == 1
        assert testplatform.calls["reconcile"] >= 1
    finally:
        await _close(pool, listener)
