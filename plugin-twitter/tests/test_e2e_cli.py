"""X end to end, as a user runs it: `auth login twitter` and `upload --test --wait`
against `pellacia-dist sandbox up`; then the same upload killed with SIGKILL
mid-file and finished by `worker --once`, re-sending only the segment in flight,
with one post on X."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pellacia.testing.cli import CLI, cli_env, sandbox_up, sql, wait_for
from pellacia.testing.videos import make_large, make_video
from pellacia_sandbox.control import SandboxControl

SEGMENT = 4 * 1024 * 1024  # the plugin's default APPEND size
SIZE = 12 * SEGMENT + 12345


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    """`pellacia-dist sandbox up --only twitter` in its own process."""
    with sandbox_up("twitter") as url:
        yield url


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
            rows = sql(pg_dsn, "SELECT bytes_sent FROM deliveries WHERE upload_state IS NOT NULL")
            return len(rows) == 1 and 3 * SEGMENT <= (rows[0]["bytes_sent"] or 0) < SIZE

        wait_for(mid_file, "the upload to be part-way")
    finally:
        upload.send_signal(signal.SIGKILL)
        upload.wait(timeout=10)
    asyncio.run(control.clear_faults())
    [at_kill] = sql(pg_dsn, "SELECT state, bytes_sent FROM deliveries")
    assert at_kill["state"] == "uploading"
    wait_for(
        lambda: not sql(pg_dsn, "SELECT 1 FROM deliveries WHERE lease_until > now()"),
        "the dead process's lease to expire",
        seconds=15,
    )
    worker = subprocess.run(
        [CLI, "worker", "--once"], env=env, capture_output=True, text=True, timeout=180
    )
    assert worker.returncode == 0, worker.stderr
    [row] = sql(pg_dsn, "SELECT state, remote_id FROM deliveries")
    assert row["state"] == "published"
    state = asyncio.run(control.state("twitter"))
    [post] = state["posts"]
    assert post["id"] == row["remote_id"] and post["bytes"] == SIZE
    [session] = state["uploads"]  # resumed, not started over
    # acknowledged segments were not sent again: only the one in flight at the kill
    assert SIZE <= session["bytes_received"] <= SIZE + SEGMENT, session
