"""plugin-meta registers Instagram and Facebook with their real limits and
refuses every operation with Unsupported (never a fake success)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pellacia.contract import (
    MediaInfo,
    Platform,
    PlatformContext,
    PublishRequest,
    RemotePost,
    TokenSet,
    UploadReceipt,
)
from pellacia.errors import ErrorClass, Unsupported
from pellacia.http import client_session
from pellacia.media import check_rules
from pellacia.plugins import load_plugins


def video(**overrides: object) -> MediaInfo:
    base: dict[str, object] = dict(
        path=Path("clip.mp4"),
        size=20_000_000,
        container="mp4",
        duration=30.0,
        width=1080,
        height=1920,
        video_codec="h264",
        audio_codec="aac",
        bitrate=5_000_000,
        fps=30.0,
    )
    base.update(overrides)
    return MediaInfo(**base)  # type: ignore[arg-type]


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PELLACIA_LOAD_PLUGINS", "meta")
    monkeypatch.setenv("PELLACIA_STRICT_PLUGINS", "1")
    return load_plugins(include_defaults=False)


def test_one_plugin_registers_two_platforms(registry) -> None:
    assert set(registry.platforms) == {"instagram", "facebook"}
    (info,) = registry.plugins
    assert info.name == "meta" and info.error is None
    assert info.provides == ["platform:instagram", "platform:facebook"]
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


def test_facebook_reel_rules(registry) -> None:
    fb = registry.platforms["facebook"]
    assert check_rules(fb.media_rules, video()) == []
    assert [v.rule for v in check_rules(fb.media_rules, video(duration=91.0))] == ["max_duration"]
    # Reels are vertical 9:16 only
    landscape = {v.rule for v in check_rules(fb.media_rules, video(width=1920, height=1080))}
    assert "max_aspect" in landscape
    small = {v.rule for v in check_rules(fb.media_rules, video(width=270, height=480))}
    assert small == {"min_side"}


class StaticTokens:
    async def current(self) -> TokenSet:
        return TokenSet(access_token="never-used")

    async def refresh(self) -> TokenSet:
        return TokenSet(access_token="never-used")


async def test_every_operation_is_unsupported(registry) -> None:
    async with client_session() as http:
        for name, platform in registry.platforms.items():
            ctx = PlatformContext(
                platform=name, account="a", http=http, tokens=StaticTokens(), clock=None
            )  # type: ignore[arg-type]
            request = PublishRequest(
                delivery_id="d1",
                idempotency_key="k1",
                platform=name,
                account="a",
                video=video(),
                title="t",
            )
            receipt = UploadReceipt(remote_id=None)
            calls = [
                platform.upload(request, None, ctx),  # type: ignore[arg-type]
                platform.publish(request, receipt, ctx),
                platform.reconcile(request, receipt, ctx),
                platform.fetch_metrics([RemotePost(remote_id="1")], ctx),
                platform.auth.exchange_code(
                    ctx, client=None, code="c", redirect_uri="r", code_verifier="v"
                ),  # type: ignore[arg-type]
                platform.auth.refresh(ctx, client=None, tokens=TokenSet(access_token="x")),  # type: ignore[arg-type]
            ]
            for call in calls:
                with pytest.raises(Unsupported) as err:
                    await call
                assert err.value.error_class is ErrorClass.UNSUPPORTED
                assert err.value.platform == name
                assert "not implemented yet in pellacia-dist-meta" in str(err.value)
                assert "falls through to the next layer" in str(err.value)
            with pytest.raises(Unsupported):
                platform.auth.authorization_url(ctx)  # type: ignore[call-arg]
