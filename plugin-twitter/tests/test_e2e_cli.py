"""X end to end, as a user runs it: `auth login twitter` and `upload --test --wait`
against `pellacia-dist sandbox up`; then the same upload killed with SIGKILL
mid-file and finished by `worker --once`, re-sending only the segment in flight,
with one post on X."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pellacia.testing.videos import make_large, make_video
from pellacia_sandbox.control import SandboxControl

CLI = str(Path(sys.executable).with_name("pellacia-dist"))
SEGMENT = 4 * 1024 * 1024  # the plugin's default APPEND size
SIZE = 12 * SEGMENT + 12345


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}
    env.update(extra)
    return env


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    """`pellacia-dist sandbox up --only twitter` in its own process."""
    proc = subprocess.Popen(
        [CLI, "sandbox", "up", "--port", "0", "--only", "twitter"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=cli_env(),
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("sandbox listening on "):
                yield line.split()[-1]
                break
        else:
            pytest.fail("the sandbox did not start")
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


@pytest.fixture
def env(sandbox_url: str, pg_dsn: str, tmp_path: Path) -> dict[str, str]:
    env = cli_env(
        PELLACIA_DATABASE_URL=pg_dsn,
        PELLACIA_DATA_DIR=str(tmp_path / "data"),
        PELLACIA_SANDBOX_URL=sandbox_url,
        PELLACIA_LEASE_SECONDS="2",
    )
    login = subprocess.run(
        [CLI, "auth", "login", "twitter"], env=env, capture_output=True, text=True, timeout=60
    )
    assert login.returncode == 0, login.stdout + login.stderr
    return env


async def sql(dsn: str, query: str) -> list[Any]:
    from pellacia.store.pool import connect_one

    conn = await connect_one(dsn)
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


def wait_for(predicate: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def upload_args(clip: Path, title: str) -> list[str]:
    return [
        CLI,
        "upload",
        "--platforms",
        "twitter",
        "--file",
        str(clip),
        "--title",
        title,
        "--test",
        "--wait",
    ]


@pytest.mark.slow
def test_upload_test_wait_posts_on_x(env: dict[str, str], sandbox_url: str, tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", seconds=1.0, width=720, height=1280)
    done = subprocess.run(
        upload_args(clip, "Budget vote"), env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    state = asyncio.run(SandboxControl(sandbox_url).state("twitter"))
    [post] = state["posts"]
    assert post["text"].startswith("Budget vote") and post["bytes"] == clip.stat().st_size


@pytest.mark.slow
def test_kill_mid_upload_then_worker_resumes(
    env: dict[str, str], sandbox_url: str, pg_dsn: str, tmp_path: Path
) -> None:
    clip = make_large(
        make_video(tmp_path / "seed.mp4", seconds=1.0, width=720, height=1280),
        tmp_path / "big.mp4",
        SIZE,
    )
    control = SandboxControl(sandbox_url)
    # slow every segment down so the kill lands mid-file
    asyncio.run(
        control.add_fault(
            "twitter", "delay", method="POST", path=r"/append$", times=None, seconds=1.0
        )
    )
    upload = subprocess.Popen(
        upload_args(clip, "Resume me"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def mid_file() -> bool:
            rows = asyncio.run(
                sql(pg_dsn, "SELECT bytes_sent FROM deliveries WHERE upload_state IS NOT NULL")
            )
            return len(rows) == 1 and 3 * SEGMENT <= (rows[0]["bytes_sent"] or 0) < SIZE

        wait_for(mid_file, "the upload to be part-way")
    finally:
        upload.send_signal(signal.SIGKILL)
        upload.wait(timeout=10)
    asyncio.run(control.clear_faults())
    [at_kill] = asyncio.run(sql(pg_dsn, "SELECT state, bytes_sent FROM deliveries"))
    assert at_kill["state"] == "uploading"
    wait_for(
        lambda: not asyncio.run(sql(pg_dsn, "SELECT 1 FROM deliveries WHERE lease_until > now()")),
        "the dead process's lease to expire",
        seconds=15,
    )
    worker = subprocess.run(
        [CLI, "worker", "--once"], env=env, capture_output=True, text=True, timeout=180
    )
    assert worker.returncode == 0, worker.stderr
    [row] = asyncio.run(sql(pg_dsn, "SELECT state, remote_id FROM deliveries"))
    assert row["state"] == "published"
    state = asyncio.run(control.state("twitter"))
    [post] = state["posts"]
    assert post["id"] == row["remote_id"] and post["bytes"] == SIZE
    [session] = state["uploads"]  # resumed, not started over
    # acknowledged segments were not sent again: only the one in flight at the kill
    assert SIZE <= session["bytes_received"] <= SIZE + SEGMENT, session
