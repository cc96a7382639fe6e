"""A platform whose client is not written yet never fakes a success, and the
manual queue says the real reason: not "log in" (which could not work)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pellacia.testing.videos import make_video

CLI = str(Path(sys.executable).with_name("pellacia-dist"))


def test_linkedin_lands_in_manual_with_the_real_reason(
    sandbox, pg_dsn: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}
    env.update(
        PELLACIA_DATABASE_URL=pg_dsn,
        PELLACIA_DATA_DIR=str(tmp_path / "data"),
        PELLACIA_SANDBOX_URL=sandbox.base_url,
    )
    clip = make_video(tmp_path / "clip.mp4", seconds=4.0, width=1280, height=720)
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
    assert upload.returncode == 1, upload.stdout + upload.stderr  # needs a person: not 0
    listed = subprocess.run(
        [CLI, "manual", "list", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    [entry] = json.loads(listed.stdout)
    assert entry["platform"] == "linkedin" and not entry["outcome_unknown"]
    assert "LinkedIn upload is not implemented yet" in entry["last_error"]
    assert "auth login" not in entry["last_error"]
    instructions = (Path(entry["package"]) / "INSTRUCTIONS.md").read_text()
    assert "Budget vote" in instructions
