"""LinkedIn end to end, as a user runs it against the sandbox: `auth login
linkedin` (the member, from openid), then `upload --test --wait` makes exactly
one member post of the whole file, and the delivery says where it is."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from pellacia.testing.videos import make_video

CLI = str(Path(sys.executable).with_name("pellacia-dist"))


def test_linkedin_member_post_through_the_cli(sandbox, pg_dsn: str, tmp_path: Path) -> None:
    from pellacia_sandbox.fakes.linkedin import person_id

    env = {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}
    env.update(
        PELLACIA_DATABASE_URL=pg_dsn,
        PELLACIA_DATA_DIR=str(tmp_path / "data"),
        PELLACIA_SANDBOX_URL=sandbox.base_url,
    )
    asyncio.run(sandbox.control.reset("linkedin"))
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
