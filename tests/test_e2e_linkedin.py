"""LinkedIn end to end, as a user runs it against the sandbox: `auth login
linkedin` (the member, from openid), then `upload --test --wait` makes exactly
one member post of the whole file; killed mid-upload, a worker resumes it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from pellacia.testing.cli import CLI, sql, wait_for
from pellacia.testing.videos import make_large, make_video

PART = 4 * 1024 * 1024  # LinkedIn's part size (the fake's too)
SIZE = 4 * PART


def test_linkedin_member_post_through_the_cli(sandbox, pg_dsn: str, tmp_path: Path) -> None:
    from pellacia_sandbox.fakes.linkedin import person_id

    env = {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}
    env.update(
        PELLACIA_DATABASE_URL=pg_dsn,
        PELLACIA_DATA_DIR=str(tmp_path / "data"),
        PELLACIA_SANDBOX_URL=sandbox.base_url,
    )
    asyncio.run(sandbox.control.reset("linkedin"))
    asyncio.run(sandbox.control.clear_faults())
    login = subprocess.run(
        [CLI, "auth", "login", "linkedin"], env=env, capture_output=True, text=True, timeout=60
    )
    assert login.returncode == 0, login.stdout + login.stderr
    clip = make_video(tmp_path / "clip.mp4", seconds=4.0, width=320, height=240, noise=True)
    upload = subprocess.run(
        [
            CLI,
            "upload",
            "--platform",
            "linkedin",
            "--file",
            str(clip),
            "--title",
            "Budget vote",
            "--test",
            "--wait",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert upload.returncode == 0, upload.stdout + upload.stderr
    state = asyncio.run(sandbox.control.state("linkedin"))
    [post] = state["posts"]
    assert post["author"] == f"urn:li:person:{person_id('sandbox-account')}"
    assert post["title"] == "Budget vote"
    assert post["bytes"] == clip.stat().st_size
    assert len(state["uploads"]) == 1
    [delivery] = json.loads(upload.stdout)["deliveries"]
    assert delivery["state"] == "published"
    assert delivery["remote_url"] == f"https://www.linkedin.com/feed/update/{post['id']}/"


@pytest.mark.slow
def test_linkedin_sigkill_mid_upload_then_worker_resumes(
    sandbox, pg_dsn: str, tmp_path: Path
) -> None:
    """Killed after two of four parts: `worker --once` finishes the same upload
    (its saved ETags), re-sending at most the part in flight, and posts once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}
    env.update(
        PELLACIA_DATABASE_URL=pg_dsn,
        PELLACIA_DATA_DIR=str(tmp_path / "data"),
        PELLACIA_SANDBOX_URL=sandbox.base_url,
        PELLACIA_LEASE_SECONDS="2",
    )
    control = sandbox.control
    asyncio.run(control.reset("linkedin"))
    asyncio.run(control.clear_faults())
    login = subprocess.run(
        [CLI, "auth", "login", "linkedin"], env=env, capture_output=True, text=True, timeout=60
    )
    assert login.returncode == 0, login.stderr
    clip = make_large(
        make_video(tmp_path / "seed.mp4", seconds=4.0, width=320, height=240),
        tmp_path / "big.mp4",
        SIZE,
    )
    # slow every part down so the kill lands mid-file
    asyncio.run(
        control.add_fault("linkedin", "delay", method="PUT", path="^/dms-uploads/", times=None)
    )
    argv = ["upload", "--platform", "linkedin", "--file", str(clip), "--title", "Resume me"]
    upload = subprocess.Popen(
        [CLI, *argv, "--test", "--wait"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def mid_file() -> bool:
            rows = sql(pg_dsn, "SELECT bytes_sent FROM deliveries")
            return len(rows) == 1 and 2 * PART <= (rows[0]["bytes_sent"] or 0) < SIZE

        wait_for(mid_file, "two parts to be acknowledged")
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
    state = asyncio.run(control.state("linkedin"))
    [post] = state["posts"]
    assert post["title"] == "Resume me" and post["id"] == row["remote_id"]
    [upload_session] = state["uploads"]  # resumed, not initialized again
    received = upload_session["bytes_received"]
    assert SIZE <= received < SIZE + at_kill["bytes_sent"]
    assert received <= SIZE + PART  # only the part in flight at the kill travelled twice
