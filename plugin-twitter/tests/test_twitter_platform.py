"""plugin-twitter registers X with its real limits and refuses every
operation with Unsupported (never a fake success)."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest
from pellacia.contract import (
    Platform,
)
from pellacia.errors import Rejected
from pellacia.media import check_rules
from pellacia.plugins import load_plugins
from pellacia.testing.planned import assert_every_operation_unsupported
from pellacia.testing.videos import media_info
from pellacia_twitter.platform import MAX_SEGMENT_BYTES, segment_count, segment_size

MiB = 1024 * 1024


video = partial(media_info, duration=60.0, width=720, height=1280, bitrate=2_000_000)


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> Platform:
    monkeypatch.setenv("PELLACIA_LOAD_PLUGINS", "twitter")
    monkeypatch.setenv("PELLACIA_STRICT_PLUGINS", "1")
    registry = load_plugins(include_defaults=False)
    assert list(registry.platforms) == ["twitter"]
    assert registry.plugins[0].provides == ["platform:twitter"]
    return registry.platforms["twitter"]


def test_registers_x(platform: Platform) -> None:
    assert isinstance(platform, Platform)
    assert (platform.name, platform.display_name) == ("twitter", "X")
    assert platform.capabilities.metrics_batch_size == 100
    budgets = {q.name: q for q in platform.quotas}
    assert budgets["twitter:posts-15min"].limit == 100
    assert budgets["twitter:posts-15min"].window == timedelta(minutes=15)
    assert budgets["twitter:app-posts-24h"].per_account is False


def test_rules(platform: Platform) -> None:
    rules = platform.media_rules
    assert check_rules(rules, video(), title="", description="short post") == []
    assert [v.rule for v in check_rules(rules, video(duration=141.0))] == ["max_duration"]
    assert [v.rule for v in check_rules(rules, video(duration=0.4))] == ["min_duration"]
    assert [v.rule for v in check_rules(rules, video(size=513 * MiB))] == ["max_bytes"]
    assert [v.rule for v in check_rules(rules, video(width=1920, height=1080))] == ["max_side"]
    panorama = {v.rule for v in check_rules(rules, video(width=1280, height=400))}
    assert panorama == {"max_aspect"}
    assert [v.rule for v in check_rules(rules, video(fps=120.0))] == ["max_fps"]
    too_long_text = check_rules(rules, video(), description="x" * 281, display_name="X")
    assert [v.rule for v in too_long_text] == ["max_description_chars"]


def test_segments() -> None:
    assert segment_size(300_000) == 300_000  # one segment
    assert segment_count(300_000) == 1
    assert segment_size(20 * MiB) == MiB
    assert segment_count(20 * MiB + 1) == 21
    big = 2 * 1024 * MiB  # 2 GiB needs bigger segments to stay within 1000
    assert MiB < segment_size(big) <= MAX_SEGMENT_BYTES
    assert segment_count(big) <= 1000
    with pytest.raises(Rejected):
        segment_size(6 * 1000 * MiB)
    with pytest.raises(Rejected):
        segment_size(0)


async def test_every_operation_is_unsupported(platform: Platform) -> None:
    await assert_every_operation_unsupported(platform, "pellacia-dist-twitter", video())
