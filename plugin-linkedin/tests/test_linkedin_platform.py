"""plugin-linkedin registers LinkedIn with its real limits and refuses every
operation with Unsupported (never a fake success)."""

from __future__ import annotations

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
from pellacia.errors import Unsupported
from pellacia.http import client_session
from pellacia.media import check_rules
from pellacia.plugins import load_plugins


def video(**overrides: object) -> MediaInfo:
    base: dict[str, object] = dict(
        path=Path("clip.mp4"),
        size=20_000_000,
        container="mp4",
        duration=60.0,
        width=1920,
        height=1080,
        video_codec="h264",
        audio_codec="aac",
        bitrate=2_000_000,
        fps=30.0,
    )
    base.update(overrides)
    return MediaInfo(**base)  # type: ignore[arg-type]


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


class StaticTokens:
    async def current(self) -> TokenSet:
        return TokenSet(access_token="never-used")

    async def refresh(self) -> TokenSet:
        return TokenSet(access_token="never-used")


async def test_every_operation_is_unsupported(platform: Platform) -> None:
    async with client_session() as http:
        ctx = PlatformContext(
            platform="linkedin", account="a", http=http, tokens=StaticTokens(), clock=None
        )  # type: ignore[arg-type]
        request = PublishRequest(
            delivery_id="d1",
            idempotency_key="k1",
            platform="linkedin",
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
            with pytest.raises(Unsupported, match="not implemented yet in pellacia-dist-linkedin"):
                await call
        with pytest.raises(Unsupported):
            platform.auth.authorization_url(ctx)  # type: ignore[call-arg]
