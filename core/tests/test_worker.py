"""The worker end to end: real PostgreSQL, the executor, the test platform over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pellacia.clock import SystemClock
from pellacia.plugins import load_plugins
from pellacia.scheduling.testing import enqueue, media_of, wait_until
from pellacia.scheduling.worker import Worker
from pellacia.store.pool import create_pool
from pellacia.testing.videos import make_video
from pellacia_testplatform.fixtures import settings_for

NO_SPACING = {"min_interval": 0, "jitter": 0}


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(
        tmp_path_factory.mktemp("v") / "clip.mp4", seconds=1.0, width=160, height=120, noise=True
    )


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[Any]:
    pool = await create_pool(pg_dsn, max_size=12)
    yield pool
    await pool.close()


async def post(conn: Any, video: Path, targets: list[tuple[str, str]], **kw: Any) -> list[Any]:
    media = media_of(video)
    return await enqueue(
        conn,
        platforms=targets,
        due_at=datetime.now(UTC),
        video_path=str(video),
        video_size=media["size"],
        media=media,
        **kw,
    )


async def test_two_workers_publish_each_delivery_exactly_once(
    testplatform: Any, pool: Any, pg_dsn: str, video: Path, tmp_path: Path
) -> None:
    settings = settings_for(
        testplatform, tmp_path, spacing=NO_SPACING, sandbox_url=testplatform.url
    )
    registry = load_plugins()
    async with pool.acquire() as conn:
        for i in range(12):
            await post(conn, video, [("testplatform", f"acct{i % 6}")])
    workers = [
        Worker(pool, settings, SystemClock(), registry=registry, concurrency=3) for _ in range(2)
    ]
    runs = [asyncio.create_task(w.run()) for w in workers]
    try:
        await wait_until(
            pg_dsn, "SELECT count(*) FROM deliveries WHERE state = 'published'", expect=12
        )
    finally:
        for w in workers:
            w.stop()
        await asyncio.gather(*runs)
    assert sum(w.claimed_total for w in workers) == 12
    assert all(w.claimed_total > 0 for w in workers)
    async with pool.acquire() as conn:
        keys = await conn.fetch("SELECT idempotency_key, attempts FROM deliveries")
    assert testplatform.posts_created == 12
    for row in keys:
        assert len(testplatform.posts_for(row["idempotency_key"])) == 1
        assert row["attempts"] == 1


async def test_breaking_news_suspends_upload_in_flight_which_then_resumes(
    testplatform: Any, pool: Any, pg_dsn: str, video: Path, tmp_path: Path
) -> None:
    settings = settings_for(
        testplatform,
        tmp_path,
        spacing=NO_SPACING,
        sandbox_url=testplatform.url,
        plugin={"chunk_size": 16 * 1024},
    )
    size = media_of(video)["size"]
    testplatform.chunk_delay = 0.05
    worker = Worker(pool, settings, SystemClock(), registry=load_plugins(), concurrency=2)
    run = asyncio.create_task(worker.run())
    try:
        async with pool.acquire() as conn:
            [normal] = await post(conn, video, [("testplatform", "main")], title="normal")
        # Wait for the normal upload to be under way.
        while testplatform.bytes_received < 3 * 16 * 1024:
            testplatform.chunk_event.clear()
            await asyncio.wait_for(testplatform.chunk_event.wait(), 10)
        async with pool.acquire() as conn:
            [news] = await post(conn, video, [("testplatform", "main")], breaking=True)
        await wait_until(
            pg_dsn, "SELECT state FROM deliveries WHERE id = $1", news, expect="published"
        )
        await wait_until(
            pg_dsn, "SELECT state FROM deliveries WHERE id = $1", normal, expect="published"
        )
    finally:
        worker.stop()
        await run
    async with pool.acquire() as conn:
        rows = {
            r["id"]: r
            for r in await conn.fetch("SELECT id, published_at, attempts FROM deliveries")
        }
        outcomes = await conn.fetch(
            "SELECT outcome FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id", normal
        )
    # Breaking went out first; the normal one was suspended, not restarted.
    assert rows[news]["published_at"] < rows[normal]["published_at"]
    assert outcomes[0]["outcome"] == "suspended"
    assert rows[normal]["attempts"] == 2
    assert testplatform.posts_created == 2
    assert testplatform.bytes_received < 3 * size  # two videos, the first not re-sent


async def test_sigterm_checkpoints_and_releases_leases(
    testplatform: Any, pool: Any, pg_dsn: str, video: Path, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'database_url = "{pg_dsn}"\n'
        f'data_dir = "{tmp_path}"\n'
        f'sandbox_url = "{testplatform.url}"\n'
        "[spacing]\nmin_interval = 0\njitter = 0\n"
        '[chains]\ntestplatform = ["api", "manual"]\n'
        "[plugins.testplatform]\n"
        f'base_url = "{testplatform.base_url}"\n'
        'access_token = "tp-token-static"\nchunk_size = 16384\n'
    )
    testplatform.chunk_delay = 0.1
    async with pool.acquire() as conn:
        [delivery] = await post(conn, video, [("testplatform", "main")])
    env = {**os.environ, "PELLACIA_CONFIG": str(config)}
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "pellacia-dist"),
        "worker",
        "--concurrency",
        "2",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        while testplatform.bytes_received < 2 * 16384:
            testplatform.chunk_event.clear()
            await asyncio.wait_for(testplatform.chunk_event.wait(), 30)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()[-2000:]
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM deliveries WHERE id = $1", delivery)
    assert row["state"] == "ready"
    assert row["lease_owner"] is None and row["lease_until"] is None
    assert row["upload_state"]["offset"] >= 2 * 16384
    assert testplatform.posts_created == 0


async def test_once_runs_what_is_due_then_returns(
    testplatform: Any, pool: Any, video: Path, tmp_path: Path
) -> None:
    settings = settings_for(
        testplatform, tmp_path, spacing=NO_SPACING, sandbox_url=testplatform.url
    )
    async with pool.acquire() as conn:
        due = await post(conn, video, [("testplatform", "a"), ("testplatform", "b")])
        later = await enqueue(
            conn,
            platforms=[("testplatform", "c")],
            due_at=datetime.now(UTC) + timedelta(hours=1),
        )
    worker = Worker(pool, settings, SystemClock(), registry=load_plugins(), concurrency=1)
    await asyncio.wait_for(worker.run(once=True), 30)
    async with pool.acquire() as conn:
        states = dict(await conn.fetch("SELECT id, state FROM deliveries"))
    assert [states[d] for d in due] == ["published", "published"]
    assert states[later[0]] == "ready"
    assert worker.claimed_total == 2
