"""plugin-meta registers Instagram and Facebook with their real limits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pellacia.contract import (
    Platform,
)
from pellacia.media import check_rules
from pellacia.plugins import load_plugins
from pellacia.testing.videos import media_info
from pellacia_meta.platform import FACEBOOK_REEL_RULES

video = media_info


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PELLACIA_LOAD_PLUGINS", "meta")
    monkeypatch.setenv("PELLACIA_STRICT_PLUGINS", "1")
    return load_plugins(include_defaults=False)


def test_one_plugin_registers_two_platforms(registry) -> None:
    assert set(registry.platforms) == {"instagram", "facebook"}
    (info,) = registry.plugins
    assert info.name == "meta" and info.error is None
    # with pellacia-dist-browser installed the page scripts register too
    assert info.provides == [
        "platform:instagram",
        "platform:facebook",
        "browser:instagram",
        "browser:facebook",
    ]
    for platform in registry.platforms.values():
        assert isinstance(platform, Platform)
    assert registry.platforms["instagram"].display_name == "Instagram"
    assert registry.platforms["facebook"].display_name == "Facebook"


def test_publishing_limits_are_budgets(registry) -> None:
    (ig,) = registry.platforms["instagram"].quotas
    assert (ig.limit, ig.window, ig.per_account) == (50, timedelta(hours=24), True)
    (fb,) = registry.platforms["facebook"].quotas
    assert (fb.limit, fb.window) == (30, timedelta(hours=24))
    assert registry.platforms["instagram"].capabilities.metrics_batch_size == 50


def test_instagram_reel_rules(registry) -> None:
    ig = registry.platforms["instagram"]
    assert check_rules(ig.media_rules, video(), platform="instagram") == []
    too_long = check_rules(ig.media_rules, video(duration=16 * 60.0), display_name="Instagram")
    assert [v.rule for v in too_long] == ["max_duration"]
    assert "Instagram" in too_long[0].message
    too_short = check_rules(ig.media_rules, video(duration=2.0))
    assert [v.rule for v in too_short] == ["min_duration"]
    rules = {v.rule for v in check_rules(ig.media_rules, video(container="webm", fps=15.0))}
    assert rules == {"container", "min_fps"}
    assert [v.rule for v in check_rules(ig.media_rules, video(size=301_000_000))] == ["max_bytes"]


def test_facebook_reel_rules() -> None:
    reel = FACEBOOK_REEL_RULES
    assert check_rules(reel, video()) == []
    assert [v.rule for v in check_rules(reel, video(duration=91.0))] == ["max_duration"]
    # Reels are vertical 9:16 only
    landscape = {v.rule for v in check_rules(reel, video(width=1920, height=1080))}
    assert "max_aspect" in landscape
    small = {v.rule for v in check_rules(reel, video(width=270, height=480))}
    assert small == {"min_side"}


def test_facebook_takes_any_page_video(registry) -> None:
    """A landscape or long video goes out as a regular Page video, so validate accepts it."""
    fb = registry.platforms["facebook"]
    assert check_rules(fb.media_rules, video(width=1920, height=1080, duration=600.0)) == []
    assert [v.rule for v in check_rules(fb.media_rules, video(duration=241 * 60.0))] == [
        "max_duration"
    ]


def test_both_platforms_are_the_plugins_own(registry) -> None:
    for platform in registry.platforms.values():
        assert type(platform).__module__.startswith("pellacia_meta.")
