"""X's limits as the plugin declares them: media rules, text weight, segments, budgets, metrics."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest
from pellacia.contract import Platform
from pellacia.errors import ConfigError, Rejected
from pellacia.media import check_rules
from pellacia.plugins import load_plugins
from pellacia.testing.videos import media_info
from pellacia.validation import preview_request
from pellacia_twitter.budgets import MONTHLY_SPEND, delivery_cost, quotas_for
from pellacia_twitter.metrics import snapshot_of
from pellacia_twitter.text import XTextValidator, weighted_length
from pellacia_twitter.upload import MAX_SEGMENT_BYTES, segment_count, segment_size

MiB = 1024 * 1024
video = partial(media_info, duration=60.0, width=720, height=1280, bitrate=2_000_000)


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> Platform:
    monkeypatch.setenv("PELLACIA_LOAD_PLUGINS", "twitter")
    monkeypatch.setenv("PELLACIA_STRICT_PLUGINS", "1")
    registry = load_plugins(include_defaults=False)
    assert list(registry.platforms) == ["twitter"]
    assert "validator:x-text" in registry.plugins[0].provides
    return registry.platforms["twitter"]


def test_registers_x_with_a_real_client(platform: Platform) -> None:
    assert isinstance(platform, Platform)
    assert type(platform).__module__.startswith("pellacia_twitter.")
    assert (platform.name, platform.display_name) == ("twitter", "X")
    assert platform.capabilities.metrics_batch_size == 100
    assert "offline.access" in platform.auth.scopes


def test_media_rules(platform: Platform) -> None:
    rules = platform.media_rules
    assert check_rules(rules, video(), title="", description="short post") == []
    assert [v.rule for v in check_rules(rules, video(duration=141.0))] == ["max_duration"]
    assert [v.rule for v in check_rules(rules, video(duration=0.4))] == ["min_duration"]
    assert [v.rule for v in check_rules(rules, video(size=512_000_001))] == ["max_bytes"]
    assert [v.rule for v in check_rules(rules, video(width=1920, height=1080))] == ["max_side"]
    assert {v.rule for v in check_rules(rules, video(width=1280, height=400))} == {"max_aspect"}
    assert [v.rule for v in check_rules(rules, video(fps=120.0))] == ["max_fps"]


def test_text_is_weighed_as_x_counts_it(platform: Platform) -> None:
    assert weighted_length("a" * 280) == 280
    assert weighted_length("界" * 140) == 280  # CJK weighs 2
    assert weighted_length("see https://example.org/a/very/long/path/indeed") == 4 + 23
    validator = XTextValidator()
    ok = preview_request("twitter", video(), title="Budget vote", description="x" * 200)
    assert validator.validate(ok, platform) == ()
    cjk = preview_request("twitter", video(), title="界" * 141)
    [violation] = validator.validate(cjk, platform)
    assert violation.rule == "max_post_chars" and "282" in violation.message


def test_segments() -> None:
    assert segment_size(300_000) == 300_000  # one segment
    assert segment_size(20 * MiB) == 4 * MiB and segment_count(20 * MiB + 1) == 6
    assert segment_size(20 * MiB, 64 * 1024) == 64 * 1024
    assert segment_size(1000 * 64 * 1024 + 1, 64 * 1024) > 64 * 1024  # never over 1000
    big = 4000 * MiB
    assert segment_size(big) == MAX_SEGMENT_BYTES and segment_count(big) == 1000
    with pytest.raises(Rejected):
        segment_size(big + 1)
    with pytest.raises(Rejected):
        segment_size(0)


def test_budgets() -> None:
    budgets = {q.name: q for q in quotas_for({"daily_post_cap": 50})}
    assert budgets["twitter:posts-15min"].limit == 100
    assert budgets["twitter:posts-15min"].window == timedelta(minutes=15)
    assert budgets["twitter:daily-posts"].limit == 50
    assert budgets["twitter:app-posts-24h"].per_account is False
    assert MONTHLY_SPEND not in budgets  # no cap configured, no spend budget
    spend = {q.name: q for q in quotas_for({"monthly_spend_cap": 30})}[MONTHLY_SPEND]
    assert (spend.limit, spend.cost_per_delivery, spend.per_account) == (30_000, 15, False)
    assert delivery_cost({}, with_url=True) == 200
    assert delivery_cost({"price_media_call": 0.001}, media_calls=6) == 21
    with pytest.raises(ConfigError):
        quotas_for({"monthly_spend_cap": "lots"})


def test_settings_reach_the_budgets_through_the_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PELLACIA_LOAD_PLUGINS", "twitter")
    monkeypatch.setenv("PELLACIA_STRICT_PLUGINS", "1")
    settings = {"twitter": {"monthly_spend_cap": 0.03, "daily_post_cap": 20}}  # two posts' worth
    x = load_plugins(settings, include_defaults=False).platforms["twitter"]
    budgets = {q.name: q for q in x.quotas}
    assert budgets[MONTHLY_SPEND].limit // budgets[MONTHLY_SPEND].cost_per_delivery == 2
    assert budgets["twitter:daily-posts"].limit == 20


def test_metrics_read_both_spellings() -> None:
    old = {"id": "1", "public_metrics": {"retweet_count": 3, "quote_count": 1, "like_count": 9,
           "reply_count": 2, "impression_count": 100, "bookmark_count": 4}}  # fmt: skip
    new = {"id": "2", "public_metrics": {"repost_count": 3, "quote_count": 1, "impression_count": 100},
           "attachments": {"media_keys": ["13_1"]}}  # fmt: skip
    media = {"13_1": {"media_key": "13_1", "public_metrics": {"view_count": 40}}}
    first, second = snapshot_of(old, {}), snapshot_of(new, media)
    assert first.metrics["shares"] == second.metrics["shares"] == 4
    assert first.metrics["views"] == 100  # no video metrics: impressions
    assert second.metrics["views"] == 40 and second.metrics["impressions"] == 100
    assert first.metrics["saves"] == 4 and first.metrics["comments"] == 2
