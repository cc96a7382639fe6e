"""``pellacia-dist validate`` and the validation service, with the installed
TikTok and YouTube plugins and real generated videos."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner
from pellacia.cli.main import cli
from pellacia.contract import Platform, PublishRequest, RuleViolation
from pellacia.errors import ConfigError
from pellacia.media import probe
from pellacia.plugins import load_plugins, reset_registry
from pellacia.testing.videos import make_truncated, make_video
from pellacia.validation import resolve_platforms, validate_for_platforms


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    vertical = make_video(d / "vertical.mp4", seconds=2.0, width=720, height=1280, fps=30)
    return {
        # accepted by TikTok and YouTube
        "vertical": vertical,
        # too small and too slow for TikTok, fine for YouTube
        "small": make_video(d / "small.mp4", seconds=1.0, width=320, height=240, fps=15),
        "truncated": make_truncated(vertical, d / "cut.mp4", 0.6),
    }


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No user config file; a wide terminal so table rows are not wrapped."""
    monkeypatch.setenv("PELLACIA_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.delenv("PELLACIA_LOAD_PLUGINS", raising=False)
    reset_registry()
    yield
    reset_registry()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["validate", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


# --------------------------------------------------------------------- CLI


def test_every_platform_accepts(clips: dict[str, Path]) -> None:
    code, out, _ = run(str(clips["vertical"]), "--platforms", "tiktok,youtube")
    assert code == 0
    assert "vertical.mp4: mp4, h264 720x1280, 30 fps, no audio, 2.0s" in out
    assert "TikTok (tiktok)" in out and "YouTube (youtube)" in out
    assert "rejected" not in out


def test_rejected_names_the_exact_rules(clips: dict[str, Path]) -> None:
    code, out, _ = run(str(clips["small"]), "-p", "tiktok,youtube")
    assert code == 1
    assert "rejected" in out
    assert "min_side: smallest side 240 px (320x240) is below TikTok's minimum of 360 px" in out
    assert "min_fps: 15 fps is below TikTok's minimum of 23" in out
    youtube_row = next(line for line in out.splitlines() if "YouTube (youtube)" in line)
    assert " ok " in youtube_row


def test_json_output(clips: dict[str, Path]) -> None:
    code, out, _ = run(str(clips["small"]), "-p", "tiktok,youtube", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["file"] == str(clips["small"])
    media = data["media"]
    assert (media["container"], media["width"], media["height"]) == ("mp4", 320, 240)
    assert media["video_codec"] == "h264" and media["fps"] == 15.0
    assert media["size"] == clips["small"].stat().st_size
    assert data["platforms"]["youtube"] == {"ok": True, "violations": []}
    tiktok = data["platforms"]["tiktok"]
    assert tiktok["ok"] is False
    assert {"rule": "min_fps", "message": "15 fps is below TikTok's minimum of 23"} in tiktok[
        "violations"
    ]
    assert {v["rule"] for v in tiktok["violations"]} == {"min_side", "min_fps"}


def test_title_is_checked(clips: dict[str, Path]) -> None:
    code, out, _ = run(str(clips["vertical"]), "-p", "youtube", "--title", "x" * 101, "--json")
    assert code == 1
    assert json.loads(out)["platforms"]["youtube"]["violations"] == [
        {
            "rule": "max_title_chars",
            "message": "title has 101 characters; YouTube allows at most 100",
        }
    ]


def test_all_platforms_is_the_default(clips: dict[str, Path]) -> None:
    code, out, _ = run(str(clips["vertical"]), "--json")
    installed = sorted(load_plugins().platforms)
    assert sorted(json.loads(out)["platforms"]) == installed
    assert code in (0, 1)


def test_unreadable_file_exits_2(clips: dict[str, Path], tmp_path: Path) -> None:
    code, out, err = run(str(clips["truncated"]), "-p", "tiktok")
    assert code == 2
    assert out == ""
    assert err.startswith("error: cut.mp4: truncated MP4 file")
    code, _, err = run(str(tmp_path / "missing.mp4"))
    assert code == 2
    assert "missing.mp4: no such file" in err


def test_unknown_platform_exits_2_and_names_installed(clips: dict[str, Path]) -> None:
    code, out, err = run(str(clips["vertical"]), "-p", "tiktok,myspace")
    assert code == 2
    assert out == ""
    assert "unknown platform myspace" in err
    assert "tiktok" in err and "youtube" in err  # the installed ones


def test_no_platform_installed_says_how_to_install(
    clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PELLACIA_LOAD_PLUGINS", "")
    reset_registry()
    code, _, err = run(str(clips["vertical"]))
    assert code == 2
    assert "no platform plugin is installed: pip install pellacia-dist-youtube" in err


def test_console_script_in_a_real_process(clips: dict[str, Path], tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("pellacia-dist")
    env = {**os.environ, "PELLACIA_CONFIG": str(tmp_path / "absent.toml")}
    env.pop("PELLACIA_LOAD_PLUGINS", None)
    proc = subprocess.run(
        [str(script), "validate", str(clips["small"]), "--platforms", "tiktok", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["platforms"]["tiktok"]["ok"] is False
    ok = subprocess.run(
        [str(script), "validate", str(clips["vertical"]), "-p", "tiktok"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr


# ----------------------------------------------------------------- service


class CrashingValidator:
    """A plugin validator with a bug."""

    name = "buggy"

    def validate(self, request: PublishRequest, platform: Platform) -> Sequence[RuleViolation]:
        raise ZeroDivisionError("division by zero")


class TitleValidator:
    """A plugin validator that leaves ``platform`` unset in its violations."""

    name = "no-shouting"

    def validate(self, request: PublishRequest, platform: Platform) -> Sequence[RuleViolation]:
        if request.title.isupper():
            return [RuleViolation("no_shouting", f"title is all caps ({platform.display_name})")]
        return []


def test_crashing_validator_is_reported_and_does_not_stop_the_others(
    clips: dict[str, Path],
) -> None:
    registry = load_plugins()
    registry.validators.insert(0, CrashingValidator())
    registry.validators.append(TitleValidator())
    media = probe(clips["small"])
    results = validate_for_platforms(registry, media, title="BREAKING", platforms="tiktok")
    violations = results["tiktok"]
    assert [v.rule for v in violations] == [
        "validator_error",
        "min_side",
        "min_fps",
        "no_shouting",
    ]
    assert violations[0].message == (
        "validator 'buggy' failed: ZeroDivisionError: division by zero"
    )
    assert violations[-1].message == "title is all caps (TikTok)"
    assert all(v.platform == "tiktok" for v in violations)


def test_resolve_platforms() -> None:
    registry = load_plugins()
    installed = sorted(registry.platforms)
    assert resolve_platforms(registry, "all") == installed
    assert resolve_platforms(registry, None) == installed
    assert resolve_platforms(registry, " YouTube, tiktok,youtube ") == ["youtube", "tiktok"]
    assert resolve_platforms(registry, ["tiktok"]) == ["tiktok"]
    with pytest.raises(ConfigError, match=r"unknown platforms a, b \(installed: .*tiktok"):
        resolve_platforms(registry, "a,tiktok,b")
