"""Each distribution installs on its own: core alone works and says so; core +
one platform plugin knows that platform and nothing else (a plugin importing
what only a sibling declares would fail here)."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pip(env_dir: Path, *args: str) -> None:
    subprocess.run(
        [
            str(env_dir / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            *args,
        ],
        check=True,
        timeout=900,
    )


def cli(env_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(env_dir / "bin" / "pellacia-dist"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(env_dir)},
    )


@pytest.mark.slow
def test_core_alone_then_core_plus_youtube(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    pip(env_dir, str(REPO / "core"))

    alone = cli(env_dir, "plugins", "list", "--json")
    assert alone.returncode == 0, alone.stderr
    assert [p["name"] for p in json.loads(alone.stdout)] == ["core"]
    assert "No platform plugin is installed" in cli(env_dir, "plugins", "list").stdout
    assert cli(env_dir, "--help").returncode == 0

    pip(env_dir, "--no-deps", str(REPO / "plugin-youtube"))
    plugins = {p["name"]: p for p in json.loads(cli(env_dir, "plugins", "list", "--json").stdout)}
    assert set(plugins) == {"core", "youtube"}
    assert plugins["youtube"]["error"] is None
    assert plugins["youtube"]["provides"] == ["platform:youtube"]
    from pellacia.testing.videos import make_video

    clip = make_video(tmp_path / "clip.mp4", seconds=1.0)
    ok = cli(env_dir, "validate", str(clip), "--platforms", "all")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "youtube" in ok.stdout and "tiktok" not in ok.stdout
    unknown = cli(env_dir, "validate", str(clip), "--platforms", "tiktok")
    assert unknown.returncode == 2
    assert "youtube" in unknown.stdout + unknown.stderr  # names what is installed


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
