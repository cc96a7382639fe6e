"""Issue-level end to end, as a user runs it: `upload --test --wait` to the
TikTok and YouTube fakes, the process killed with SIGKILL mid-upload, then a
worker finishes the same uploads without re-sending what was acknowledged and
without a second post anywhere."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pellacia.testing.cli import CLI, cli_env, fake_state, sandbox_up, sql, wait_for
from pellacia.testing.videos import make_large, make_video

SIZE = 48 * 1024 * 1024
# the largest chunk either plugin sends by default (TikTok 10 MB, YouTube 8 MiB)
ONE_CHUNK = 10_000_000


@pytest.fixture
def sandbox_process() -> Iterator[str]:
    """`pellacia-dist sandbox up` in its own process, as a user starts it."""
    with sandbox_up("tiktok", "youtube") as url:
        yield url


@pytest.mark.slow
def test_kill_mid_upload_then_worker_finishes_without_resending(
    sandbox_process: str, pg_dsn: str, tmp_path: Path
) -> None:
    from pellacia_sandbox.control import SandboxControl

    env = cli_env(
        PELLACIA_DATABASE_URL=pg_dsn,
        PELLACIA_DATA_DIR=str(tmp_path / "data"),
        PELLACIA_SANDBOX_URL=sandbox_process,
        PELLACIA_LEASE_SECONDS="2",
    )
    for platform in ("tiktok", "youtube"):
        login = subprocess.run(
            [CLI, "auth", "login", platform], env=env, capture_output=True, text=True, timeout=60
        )
        assert login.returncode == 0, login.stderr
    clip = make_large(
        make_video(tmp_path / "seed.mp4", seconds=1.0, width=720, height=1280),
        tmp_path / "big.mp4",
        SIZE,
    )

    control = SandboxControl(sandbox_process)
    # slow every chunk down so the kill lands mid-file
    asyncio.run(control.add_fault("tiktok", "delay", method="PUT", times=None, seconds=1.0))
    asyncio.run(control.add_fault("youtube", "delay", method="PUT", times=None, seconds=1.0))

    upload = subprocess.Popen(
        [
            CLI,
            "upload",
            "--platforms",
            "tiktok,youtube",
            "--file",
            str(clip),
            "--title",
            "Resume me",
            "--test",
            "--wait",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def both_mid_file() -> bool:
            rows = sql(pg_dsn, "SELECT bytes_sent FROM deliveries WHERE upload_state IS NOT NULL")
            # at least two chunks acknowledged on each, the file not finished
            return len(rows) == 2 and all(
                2 * ONE_CHUNK <= (r["bytes_sent"] or 0) < SIZE for r in rows
            )

        wait_for(both_mid_file, "both uploads to be part-way")
    finally:
        upload.send_signal(signal.SIGKILL)
        upload.wait(timeout=10)
    asyncio.run(control.clear_faults())
    at_kill = {
        r["platform"]: r for r in sql(pg_dsn, "SELECT platform, state, bytes_sent FROM deliveries")
    }
    assert {p: r["state"] for p, r in at_kill.items()} == {
        "tiktok": "uploading",
        "youtube": "uploading",
    }

    wait_for(
        lambda: not sql(pg_dsn, "SELECT 1 FROM deliveries WHERE lease_until > now()"),
        "the dead process's leases to expire",
        seconds=15,
    )
    worker = subprocess.run(
        [CLI, "worker", "--once"], env=env, capture_output=True, text=True, timeout=180
    )
    assert worker.returncode == 0, worker.stderr

    rows = sql(pg_dsn, "SELECT platform, state, remote_id FROM deliveries ORDER BY platform")
    assert [(r["platform"], r["state"]) for r in rows] == [
        ("tiktok", "published"),
        ("youtube", "published"),
    ]
    for platform in ("tiktok", "youtube"):
        state = fake_state(sandbox_process, platform)
        ours = [p for p in state["posts"] if p.get("title") == "Resume me"]
        assert len(ours) == 1, (platform, ours)  # never twice
        received = sum(u["bytes_received"] for u in state["uploads"])
        acknowledged = at_kill[platform]["bytes_sent"]
        # what was acknowledged before the kill was not sent again: only the
        # chunk in flight at the kill may have travelled twice
        assert SIZE <= received < SIZE + acknowledged, (platform, received, acknowledged)
        assert received <= SIZE + ONE_CHUNK, (platform, received)
