"""plugin-linkedin registers LinkedIn with its real limits and refuses every
operation with Unsupported (never a fake success)."""

from __future__ import annotations

from functools import partial

import pytest
from pellacia.contract import (
    Platform,
)
from pellacia.media import check_rules
from pellacia.plugins import load_plugins
from pellacia.testing.planned import assert_every_operation_unsupported
from pellacia.testing.videos import media_info

video = partial(media_info, duration=60.0, width=1920, height=1080, bitrate=2_000_000)


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> Platform:
    monkeypatch.setenv("PELLACIA_LOAD_PLUGINS", "linkedin")
    monkeypatch.setenv("PELLACIA_STRICT_PLUGINS", "1")
    registry = load_plugins(include_defaults=False)
    assert list(registry.platforms) == ["linkedin"]
    assert registry.plugins[0].provides == ["platform:linkedin"]
    return registry.platforms["linkedin"]


def test_registers_linkedin(platform: Platform) -> None:
    assert isinstance(platform, Platform)
    assert platform.display_name == "LinkedIn"
    (daily,) = platform.quotas
    assert daily.window is None and daily.reset_timezone == "UTC"


def test_rules(platform: Platform) -> None:
    rules = platform.media_rules
    assert check_rules(rules, video()) == []
    assert check_rules(rules, video(width=1080, height=1920)) == []  # vertical 9:16 is inside 1:2.4
    assert [v.rule for v in check_rules(rules, video(container="mov"))] == ["container"]
    assert [v.rule for v in check_rules(rules, video(duration=2.9))] == ["min_duration"]
    assert [v.rule for v in check_rules(rules, video(duration=30 * 60 + 1.0))] == ["max_duration"]
    assert [v.rule for v in check_rules(rules, video(size=74_000))] == ["min_bytes"]
    assert [v.rule for v in check_rules(rules, video(size=501_000_000))] == ["max_bytes"]
    assert [v.rule for v in check_rules(rules, video(width=2500, height=1000))] == ["max_aspect"]
    assert [v.rule for v in check_rules(rules, video(width=400, height=1000))] == ["min_aspect"]


async def test_every_operation_is_unsupported(platform: Platform) -> None:
    await assert_every_operation_unsupported(platform, "pellacia-dist-linkedin", video())
