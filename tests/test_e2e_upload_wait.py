"""`upload --wait` runs the one worker: breaking-news pre-emption and lease loss
behave as in `pellacia-dist worker` (CLI in a subprocess, real PostgreSQL, the
test platform over HTTP served by this test process)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pellacia.store import queue
from pellacia.store.pool import connect_one
from pellacia.testing.videos import make_video
from pellacia_testplatform.fake import FakeTestPlatform

CHUNK = 16 * 1024


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("v") / "clip.mp4", seconds=1.0, noise=True)


@pytest.fixture(scope="module")
def content(video: Path) -> bytes:
    return video.read_bytes()


@pytest.fixture
def config(tmp_path: Path, testplatform: FakeTestPlatform) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        "lease_seconds = 2\n"
        f'[plugins.testplatform]\nbase_url = "{testplatform.base_url}"\n'
        f'access_token = "tp-token-static"\nchunk_size = {CHUNK}\n'
        '[chains]\ntestplatform = ["api", "manual"]\n'
        "[spacing]\nmin_interval = 0\njitter = 0\n"
    )
    return path


@pytest.fixture
async def db(pg_dsn: str) -> AsyncIterator[Any]:
    conn = await connect_one(pg_dsn)
    yield conn
    await conn.close()


async def start(config: Path, dsn: str, *args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "DATABASE_URL": dsn, "PELLACIA_CONFIG": str(config), "NO_COLOR": "1"}
    env.pop("PELLACIA_DATABASE_URL", None)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from pellacia.cli.main import main; main()",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


def upload_args(video: Path, title: str, *extra: str) -> list[str]:
    return ["upload", "--platform", "testplatform", "--file", str(video), "--title", title, *extra]


async def until_bytes(fake: FakeTestPlatform, n: int) -> None:
    async with asyncio.timeout(30):
        while fake.bytes_received < n:
            fake.chunk_event.clear()
            await fake.chunk_event.wait()


async def finish(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    try:
        async with asyncio.timeout(60):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_breaking_post_preempts_an_upload_wait_upload_which_resumes(
    config: Path,
    pg_dsn: str,
    db: Any,
    testplatform: FakeTestPlatform,
    video: Path,
    content: bytes,
) -> None:
    testplatform.chunk_delay = 0.05
    waiting = await start(config, pg_dsn, *upload_args(video, "normal", "--wait", "--json"))
    try:
        await until_bytes(testplatform, 3 * CHUNK)
        breaking = await start(
            config, pg_dsn, *upload_args(video, "news", "--priority", "breaking")
        )
        code, _, err = await finish(breaking)
        assert code == 0, err
    finally:
        code, out, err = await finish(waiting)
    assert code == 0, err
    [normal] = json.loads(out)["deliveries"]
    rows = {
        r["title"]: r
        for r in await db.fetch(
            "SELECT p.title, d.id, d.state, d.published_at, d.attempts FROM deliveries d "
            "JOIN posts p ON p.id = d.post_id"
        )
    }
    assert str(rows["normal"]["id"]) == normal["id"]
    assert rows["news"]["state"] == rows["normal"]["state"] == "published"
    assert rows["news"]["published_at"] < rows["normal"]["published_at"]
    outcomes = await db.fetch(
        "SELECT outcome FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id",
        rows["normal"]["id"],
    )
    assert [o["outcome"] for o in outcomes] == ["suspended", "published"]
    assert rows["normal"]["attempts"] == 2
    # suspended, then resumed in the same upload session: no byte lost, none sent twice
    assert testplatform.posts_created == 2 and len(testplatform.uploads) == 2
    assert all(bytes(u.data) == content for u in testplatform.uploads.values())
    assert testplatform.bytes_received == 2 * len(content)


async def test_upload_wait_that_loses_its_lease_stops_touching_the_delivery(
    config: Path,
    pg_dsn: str,
    db: Any,
    testplatform: FakeTestPlatform,
    video: Path,
    content: bytes,
) -> None:
    testplatform.chunk_delay = 0.05
    proc = await start(config, pg_dsn, *upload_args(video, "clip", "--wait", "--json"))
    try:
        await until_bytes(testplatform, 3 * CHUNK)
        # another worker took the lease (ours looked expired to it)
        stolen = await db.fetchrow(
            "UPDATE deliveries SET lease_owner = 'thief', lease_until = now() + interval '1 hour' "
            "RETURNING *"
        )
        assert stolen["state"] == "uploading"
        assert proc.stderr is not None
        async with asyncio.timeout(30):
            while b"lease lost" not in await proc.stderr.readline():
                pass
        calls = dict(testplatform.calls)
        # two more heartbeats of the --wait worker: nothing reaches the platform or the row
        testplatform.call_event.clear()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(testplatform.call_event.wait(), 2 * 2 / 3 * 2)
        assert testplatform.calls == calls
        assert dict(await db.fetchrow("SELECT * FROM deliveries")) == dict(stolen)
        # the thief hands it back: the --wait worker claims it again and finishes it
        await queue.release(db, [stolen["id"]], "thief")
        code, out, err = await finish(proc)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            await finish(proc)
    assert code == 0, err
    [delivery] = json.loads(out)["deliveries"]
    assert delivery["state"] == "published"
    assert testplatform.posts_created == 1 and len(testplatform.uploads) == 1
    [upload] = testplatform.uploads.values()
    assert bytes(upload.data) == content
