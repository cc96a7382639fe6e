"""The specification's first success criterion, as a user runs it: one clip
published on all six platforms at once (`upload --platforms all --test --wait`
against `pellacia-dist sandbox up`), one post on each, every URL printed."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pellacia.testing.cli import CLI, cli_env, fake_state, sandbox_up
from pellacia.testing.videos import make_video

SIX = ("facebook", "instagram", "linkedin", "tiktok", "twitter", "youtube")
#: `auth login` names: Meta's one sign-in serves Instagram and Facebook
LOGINS = ("meta", "linkedin", "tiktok", "twitter", "youtube")


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    with sandbox_up(*SIX) as url:
        yield url


@pytest.mark.slow
def test_one_clip_on_all_six_platforms_at_once(
    sandbox_url: str, pg_dsn: str, tmp_path: Path
) -> None:
    env = cli_env(
        PELLACIA_DATABASE_URL=pg_dsn,
        PELLACIA_DATA_DIR=str(tmp_path / "data"),
        PELLACIA_CONFIG=str(tmp_path / "none.toml"),
        PELLACIA_SANDBOX_URL=sandbox_url,
    )
    for name in LOGINS:
        login = subprocess.run(
            [CLI, "auth", "login", name], env=env, capture_output=True, text=True, timeout=60
        )
        assert login.returncode == 0, login.stdout + login.stderr
    # vertical, 5 s, 30 fps: inside every platform's rules
    clip = make_video(tmp_path / "clip.mp4", seconds=5.0, width=720, height=1280, fps=30)
    done = subprocess.run(
        [CLI, "upload", "--platforms", "all", "--file", str(clip), "--title", "Six at once",
         "--test", "--wait"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    printed = {line.split(":", 1)[0] for line in done.stdout.splitlines() if ": " in line}
    assert {f"{p}/default" for p in SIX} <= printed, done.stdout
    for platform in SIX:
        posts = fake_state(sandbox_url, platform)["posts"]
        assert len(posts) == 1, (platform, posts)
