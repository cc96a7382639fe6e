"""Issue-level end to end, as a user runs it: `auth login` for Instagram and Facebook
against `pellacia-dist sandbox up`, then `upload --platforms instagram,facebook
--test --wait` publishes once on each fake; killed mid-upload, `worker --once`
finishes without re-sending acknowledged bytes and without a second post."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pellacia.testing.cli import CLI, cli_env, fake_state, sandbox_up, sql, wait_for
from pellacia.testing.videos import make_large, make_video

PLATFORMS = ("instagram", "facebook")
CHUNK = 1024 * 1024
SIZE = 24 * CHUNK


@pytest.fixture
def sandbox_process() -> Iterator[str]:
    """`pellacia-dist sandbox up` with the two Meta fakes, in its own process."""
    with sandbox_up("instagram", "facebook") as url:
        yield url


@pytest.fixture
def env(sandbox_process: str, pg_dsn: str, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "config.toml"
    sections = "\n".join(
        f"[plugins.{p}]\nchunk_size = {CHUNK}\nstatus_poll_interval = 0.2\n" for p in PLATFORMS
    )
    retry = "[retry]\ntries_per_layer = 3\nbase_delay = 0.05\nmax_delay = 0.1\n"
    config.write_text(f'timezone = "UTC"\n\n{sections}\n{retry}')
    values = cli_env(
        PELLACIA_CONFIG=str(config),
        PELLACIA_DATABASE_URL=pg_dsn,
        PELLACIA_DATA_DIR=str(tmp_path / "data"),
        PELLACIA_SANDBOX_URL=sandbox_process,
        PELLACIA_LEASE_SECONDS="2",
    )
    # one sign-in binds the Page and its Instagram account, for both platforms
    login = subprocess.run(
        [CLI, "auth", "login", "meta"], env=values, capture_output=True, text=True, timeout=60
    )
    assert login.returncode == 0, login.stderr
    assert "connected Instagram and Facebook account 'default'" in login.stdout
    listed = subprocess.run(
        [CLI, "auth", "list", "--json"], env=values, capture_output=True, text=True, timeout=60
    )
    stored = {c["platform"]: c for c in json.loads(listed.stdout)}
    assert set(stored) == set(PLATFORMS)
    for credential in stored.values():
        assert credential["bound_to"].startswith("Page ")
        assert " + Instagram @" in credential["bound_to"]
    return values


def test_upload_test_wait_publishes_on_both(
    env: dict[str, str], sandbox_process: str, tmp_path: Path
) -> None:
    clip = make_video(tmp_path / "sample.mp4", seconds=4.0, width=540, height=960)
    done = subprocess.run(
        [CLI, "upload", "--platforms", "instagram,facebook", "--file", str(clip),
         "--title", "Flood warning", "--test", "--wait"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    for platform in PLATFORMS:
        posts = fake_state(sandbox_process, platform)["posts"]
        assert len(posts) == 1, (platform, posts)
        assert posts[0]["caption"].startswith("Flood warning")
        assert posts[0]["bytes"] == clip.stat().st_size


def test_faults_armed_still_make_exactly_one_post_each(
    env: dict[str, str], sandbox_process: str, tmp_path: Path
) -> None:
    """A reset mid-upload and a lost answer to the call that makes the post, on both."""
    from pellacia_sandbox.control import SandboxControl

    control = SandboxControl(sandbox_process)
    faults = [
        ("instagram", "reset", "^/ig-api-upload/", {"skip": 1, "after_bytes": 1000}),
        ("instagram", "lose_response", r"/media_publish$", {}),
        ("facebook", "reset", "^/video-upload/", {"skip": 1, "after_bytes": 1000}),
        ("facebook", "lose_response", r"/video_reels$", {"skip": 1}),  # the finish, not the start
    ]
    for platform, kind, path, more in faults:
        asyncio.run(control.add_fault(platform, kind, method="POST", path=path, **more))
    seed = make_video(tmp_path / "seed.mp4", seconds=4.0, width=540, height=960)
    clip = make_large(seed, tmp_path / "faulty.mp4", 3 * CHUNK + 1234)
    done = subprocess.run(
        [CLI, "upload", "--platforms", "instagram,facebook", "--file", str(clip),
         "--title", "Despite faults", "--test", "--wait"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert all(f["remaining"] == 0 for f in asyncio.run(control.faults()))  # every fault fired
    for platform in PLATFORMS:
        state = fake_state(sandbox_process, platform)
        assert len(state["posts"]) == 1, (platform, state["posts"])
        assert len(state["uploads"]) == 1 and state["posts"][0]["bytes"] == clip.stat().st_size


@pytest.mark.slow
def test_kill_mid_upload_then_worker_finishes_without_resending(
    env: dict[str, str], sandbox_process: str, pg_dsn: str, tmp_path: Path
) -> None:
    from pellacia_sandbox.control import SandboxControl

    seed = make_video(tmp_path / "seed.mp4", seconds=4.0, width=540, height=960)
    clip = make_large(seed, tmp_path / "big.mp4", SIZE)
    control = SandboxControl(sandbox_process)
    for platform, path in (("instagram", "^/ig-api-upload/"), ("facebook", "^/video-upload/")):
        asyncio.run(control.add_fault(platform, "delay", path=path, times=None, seconds=0.5))
    upload = subprocess.Popen(
        [CLI, "upload", "--platforms", "instagram,facebook", "--file", str(clip),
         "--title", "Resume me", "--test", "--wait"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:

        def both_mid_file() -> bool:
            rows = sql(pg_dsn, "SELECT bytes_sent FROM deliveries WHERE upload_state IS NOT NULL")
            return len(rows) == 2 and all(2 * CHUNK <= (r["bytes_sent"] or 0) < SIZE for r in rows)

        wait_for(both_mid_file, "both uploads to be part-way")
    finally:
        upload.send_signal(signal.SIGKILL)
        upload.wait(timeout=10)
    asyncio.run(control.clear_faults())
    at_kill = {
        r["platform"]: r for r in sql(pg_dsn, "SELECT platform, state, bytes_sent FROM deliveries")
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
    rows = sql(pg_dsn, "SELECT platform, state FROM deliveries ORDER BY platform")
    assert [(r["platform"], r["state"]) for r in rows] == [
        ("facebook", "published"),
        ("instagram", "published"),
    ]
    for platform in PLATFORMS:
        state = fake_state(sandbox_process, platform)
        assert len(state["posts"]) == 1, (platform, state["posts"])  # never twice
        assert len(state["uploads"]) == 1, platform  # the same upload went on
        received = sum(u["bytes_received"] for u in state["uploads"])
        acknowledged = at_kill[platform]["bytes_sent"]
        # only the chunk in flight at the kill may have travelled twice
        assert SIZE <= received < SIZE + acknowledged, (platform, received, acknowledged)
        assert received <= SIZE + CHUNK, (platform, received)
