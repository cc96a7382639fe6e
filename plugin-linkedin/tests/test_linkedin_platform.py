"""plugin-linkedin registers LinkedIn with its real limits and a real client
(no longer a planned platform); the pure parts of its protocol."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from pellacia.contract import AuthKind, Platform, PublishRequest, auth_kind
from pellacia.media import check_rules
from pellacia.plugins import load_plugins
from pellacia.testing.videos import make_video, media_info
from pellacia_linkedin.client import months_old, next_utc_midnight, query, restli_list
from pellacia_linkedin.posts import commentary_of, escape
from pellacia_linkedin.upload import strip_etag

CLI = str(Path(sys.executable).with_name("pellacia-dist"))
video = partial(media_info, duration=60.0, width=1920, height=1080, bitrate=2_000_000)


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> Platform:
    monkeypatch.setenv("PELLACIA_LOAD_PLUGINS", "linkedin")
    monkeypatch.setenv("PELLACIA_STRICT_PLUGINS", "1")
    registry = load_plugins(include_defaults=False)
    assert list(registry.platforms) == ["linkedin"]
    # the page script registers too: pellacia-dist-browser is installed here
    assert registry.plugins[0].provides == ["platform:linkedin", "browser:linkedin"]
    return registry.platforms["linkedin"]


def test_registers_linkedin_with_a_real_client(platform: Platform) -> None:
    assert isinstance(platform, Platform)
    assert type(platform).__module__.startswith("pellacia_linkedin.")
    assert platform.display_name == "LinkedIn"
    assert auth_kind(platform.auth) is AuthKind.AUTHORIZATION_CODE
    (daily,) = platform.quotas
    assert daily.window is None and daily.reset_timezone == "UTC"


def test_daily_post_cap_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PELLACIA_LOAD_PLUGINS", "linkedin")
    registry = load_plugins(include_defaults=False, settings={"linkedin": {"daily_post_cap": 40}})
    (daily,) = registry.platforms["linkedin"].quotas
    assert daily.limit == 40


def test_rules(platform: Platform) -> None:
    rules = platform.media_rules
    assert check_rules(rules, video()) == []
    assert check_rules(rules, video(width=1080, height=1920)) == []  # vertical 9:16 is inside 1:2.4
    assert [v.rule for v in check_rules(rules, video(container="mov"))] == ["container"]
    assert [v.rule for v in check_rules(rules, video(duration=2.9))] == ["min_duration"]
    assert [v.rule for v in check_rules(rules, video(duration=30 * 60 + 1.0))] == ["max_duration"]
    # 75 KB under both readings: 75,000 bytes is under 75 KiB
    assert [v.rule for v in check_rules(rules, video(size=75_000))] == ["min_bytes"]
    assert check_rules(rules, video(size=76_800)) == []
    assert [v.rule for v in check_rules(rules, video(size=500_000_001))] == ["max_bytes"]
    assert [v.rule for v in check_rules(rules, video(width=2500, height=1000))] == ["max_aspect"]
    assert [v.rule for v in check_rules(rules, video(width=400, height=1000))] == ["min_aspect"]


def test_etags_lose_their_quotes() -> None:
    assert strip_etag('"/ETag/abc"') == "/ETag/abc"
    assert strip_etag('W/"abc"') == "abc"
    assert strip_etag("abc") == "abc"


def test_daily_limits_reset_at_utc_midnight() -> None:
    late = datetime(2026, 11, 30, 23, 59, 30, tzinfo=UTC)
    assert next_utc_midnight(late) == datetime(2026, 12, 1, tzinfo=UTC)
    assert next_utc_midnight(datetime(2026, 12, 1, tzinfo=UTC)) == datetime(2026, 12, 2, tzinfo=UTC)


def test_restli_encoding() -> None:
    urns = ["urn:li:share:1", "urn:li:ugcPost:2"]
    assert restli_list(urns) == "List(urn%3Ali%3Ashare%3A1,urn%3Ali%3AugcPost%3A2)"
    built = query(
        {"q": "author", "author": "urn:li:person:x", "ids": restli_list(urns)}, raw=("ids",)
    )
    assert built == (
        "q=author&author=urn%3Ali%3Aperson%3Ax&ids=List(urn%3Ali%3Ashare%3A1,urn%3Ali%3AugcPost%3A2)"
    )


def test_version_age() -> None:
    assert months_old("202605", datetime(2026, 11, 30, tzinfo=UTC)) == 6
    assert months_old("202505", datetime(2026, 11, 30, tzinfo=UTC)) == 18


def test_commentary_is_little_text() -> None:
    request = PublishRequest(
        delivery_id="d",
        idempotency_key="k",
        platform="linkedin",
        account="a",
        video=video(),
        title="Vote (final) #1",
        description="Results @ 9_pm",
        hashtags=("#news", "#budget2026"),
    )
    assert escape("a(b)") == r"a\(b\)"
    assert commentary_of(request) == (
        r"Vote \(final\) \#1" + "\n\n" + r"Results \@ 9\_pm" + "\n\n"
        r"{hashtag|\#|news} {hashtag|\#|budget2026}"
    )


@pytest.mark.parametrize(
    ("spec", "rules"),
    [
        ({"seconds": 2.0, "width": 320, "height": 240}, ["min_bytes", "min_duration"]),
        ({"seconds": 3.5, "width": 1000, "height": 400, "noise": True}, ["max_aspect"]),
        ({"seconds": 3.5, "width": 320, "height": 240, "noise": True}, []),
    ],
)
def test_validate_refuses_before_any_upload(
    tmp_path: Path, spec: dict[str, Any], rules: list[str]
) -> None:
    clip = make_video(tmp_path / "clip.mp4", **spec)
    run = subprocess.run(
        [CLI, "validate", "-p", "linkedin", "--json", str(clip)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    verdict = json.loads(run.stdout)["platforms"]["linkedin"]
    assert [v["rule"] for v in verdict["violations"]] == rules
    assert run.returncode == (1 if rules else 0)
