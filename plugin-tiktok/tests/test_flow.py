"""The TikTok plugin against the sandbox's TikTok fake over real HTTP on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
from pellacia.contract import MediaInfo, PlatformContext
from pellacia.errors import Challenge, OutcomeUnknown, RateLimited, Rejected, Transient
from pellacia_sandbox.control import SandboxControl
from pellacia_sandbox.fakes.tiktok import TikTokFake
from pellacia_sandbox.host import SandboxHost
from pellacia_tiktok.platform import INBOX_NOTE, TikTokPlatform

from .conftest import CHUNK, MemorySession, make_request, sha256, write_file

INIT = r"^/v2/post/publish/video/init/$"
CHUNK_PUT = r"^/upload/video/"


def puts(fake: TikTokFake) -> list[dict[str, object]]:
    return [r for r in fake.requests if r["method"] == "PUT"]


async def test_happy_path_direct_post(
    fake: TikTokFake, ctx: PlatformContext, platform: TikTokPlatform, video: MediaInfo
) -> None:
    request = make_request(video)
    session = MemorySession()
    receipt = await platform.upload(request, session, ctx)
    assert receipt.state["total_chunk_count"] == 4 and receipt.state["chunk_size"] == CHUNK
    # state saved after init and after each of the 4 acknowledged chunks
    assert [s["next_chunk"] for s in session.saved] == [0, 1, 2, 3, 4]
    assert session.progress_calls[-1] == (video.size, video.size)

    post = await platform.publish(request, receipt, ctx)
    assert post.remote_id.isdigit()
    assert post.url == f"https://www.tiktok.com/@sandbox-account/video/{post.remote_id}"

    state = fake.snapshot()
    assert len(state["posts"]) == 1
    only = state["posts"][0]
    assert only["id"] == post.remote_id and only["status"] == "PUBLISH_COMPLETE"
    assert only["bytes"] == video.size and only["sha256"] == sha256(video.path)
    assert only["caption"] == "Flood waters rise in the valley"
    assert only["privacy_level"] == "PUBLIC_TO_EVERYONE"
    assert state["uploads"][0]["bytes_received"] == video.size
    assert all(r["status"] in (206, 201) for r in puts(fake))


async def test_resume_after_reset_mid_chunk_sends_no_acknowledged_chunk_twice(
    fake: TikTokFake,
    ctx: PlatformContext,
    platform: TikTokPlatform,
    video: MediaInfo,
    control: SandboxControl,
) -> None:
    await control.add_fault("tiktok", "reset", path=CHUNK_PUT, skip=2, after_bytes=10_000)
    request = make_request(video)
    first = MemorySession()
    with pytest.raises(Transient):
        await platform.upload(request, first, ctx)
    assert first.saved[-1]["next_chunk"] == 2  # chunks 0 and 1 acknowledged

    second = first.resumed()
    receipt = await platform.upload(request, second, ctx)
    assert receipt.state["publish_id"] == first.saved[-1]["publish_id"]
    post = await platform.publish(request, receipt, ctx)

    state = fake.snapshot()
    assert len(state["uploads"]) == 1 and len(state["posts"]) == 1
    upload = state["uploads"][0]
    # every byte the fake read was new: the broken chunk died in the fault, nothing was re-sent
    assert upload["bytes_received"] == video.size and upload["rejected_chunks"] == 0
    assert [r["status"] for r in puts(fake)] == [206, 206, 499, 206, 201]
    assert state["posts"][0]["sha256"] == sha256(video.path)
    assert post.remote_id == state["posts"][0]["id"]


async def test_lost_answer_of_the_last_chunk_resumes_without_resending(
    fake: TikTokFake,
    ctx: PlatformContext,
    platform: TikTokPlatform,
    video: MediaInfo,
    control: SandboxControl,
) -> None:
    await control.add_fault("tiktok", "lose_response", path=CHUNK_PUT, skip=3)
    request = make_request(video)
    first = MemorySession()
    with pytest.raises(Transient):
        await platform.upload(request, first, ctx)
    receipt = await platform.upload(request, first.resumed(), ctx)
    await platform.publish(request, receipt, ctx)
    state = fake.snapshot()
    assert state["uploads"][0]["bytes_received"] == video.size
    assert len(puts(fake)) == 4 and len(state["posts"]) == 1


async def test_init_rate_limit_is_rate_limited_with_the_window(
    fake: TikTokFake, ctx: PlatformContext, platform: TikTokPlatform, video: MediaInfo
) -> None:
    fake.configure(init_per_minute=1)
    await platform.upload(make_request(video), MemorySession(), ctx)
    with pytest.raises(RateLimited) as caught:
        await platform.upload(make_request(video, caption="another"), MemorySession(), ctx)
    assert caught.value.retry_after == 60.0
    assert caught.value.quota == "tiktok:init-per-minute"
    assert len(fake.snapshot()["uploads"]) == 1


async def test_native_rate_limit_fault_and_daily_cap(
    fake: TikTokFake,
    ctx: PlatformContext,
    platform: TikTokPlatform,
    video: MediaInfo,
    control: SandboxControl,
) -> None:
    await control.add_fault("tiktok", "rate_limit", path=INIT, retry_after=30)
    with pytest.raises(RateLimited) as caught:
        await platform.upload(make_request(video), MemorySession(), ctx)
    assert caught.value.retry_after == 60.0
    await control.add_fault("tiktok", "quota", path=INIT)
    with pytest.raises(RateLimited) as capped:
        await platform.upload(make_request(video), MemorySession(), ctx)
    assert capped.value.quota == "tiktok:daily-posts"
    await control.add_fault("tiktok", "challenge", path=INIT)
    with pytest.raises(Challenge, match="spam_risk_user_banned_from_posting"):
        await platform.upload(make_request(video), MemorySession(), ctx)
    await control.add_fault("tiktok", "server_error", path=INIT)
    with pytest.raises(Transient):
        await platform.upload(make_request(video), MemorySession(), ctx)
    assert fake.snapshot()["uploads"] == []


async def test_token_expiry_mid_upload_refreshes_once(
    fake: TikTokFake,
    ctx: PlatformContext,
    platform: TikTokPlatform,
    video: MediaInfo,
    control: SandboxControl,
) -> None:
    await control.add_fault("tiktok", "reset", path=CHUNK_PUT, skip=1, after_bytes=1000)
    request = make_request(video)
    first = MemorySession()
    with pytest.raises(Transient):
        await platform.upload(request, first, ctx)
    await control.expire_tokens("tiktok")
    receipt = await platform.upload(
        request, first.resumed(), ctx
    )  # status/fetch: 401, refresh, retry
    post = await platform.publish(request, receipt, ctx)
    assert ctx.tokens.refreshes == 1  # type: ignore[attr-defined]
    assert fake.tokens.stats["refreshes"] == 1
    assert post.remote_id == fake.snapshot()["posts"][0]["id"]


async def test_lost_answer_of_init_reconciles_to_none_and_posts_once(
    fake: TikTokFake,
    ctx: PlatformContext,
    platform: TikTokPlatform,
    video: MediaInfo,
    control: SandboxControl,
) -> None:
    await control.add_fault("tiktok", "lose_response", path=INIT)
    spent: list[str] = []

    async def spend(budget: str) -> None:
        spent.append(budget)

    ctx.spender = spend
    request = make_request(video)
    session = MemorySession()
    with pytest.raises(OutcomeUnknown):
        await platform.upload(request, session, ctx)
    assert session.saved == []  # nothing acknowledged, nothing saved
    # the init went out (the fake created a publish_id) but it can never become a post
    assert len(fake.snapshot()["uploads"]) == 1
    assert await platform.reconcile(request, None, ctx) is None

    receipt = await platform.upload(request, session.resumed(), ctx)
    post = await platform.publish(request, receipt, ctx)
    # the engine reconciles again before any later retry: now it finds the post
    again = await platform.reconcile(request, None, ctx)
    assert again is not None and again.remote_id == post.remote_id
    assert again.url == post.url
    state = fake.snapshot()
    assert len(state["posts"]) == 1 and len(state["videos"]) == 1
    assert [u["bytes_received"] for u in state["uploads"]] == [0, video.size]
    # each of the two inits spent the 6-per-minute budget (not once per delivery)
    assert spent == ["tiktok:init-per-minute"] * 2
    init = {q.name: q for q in platform.quotas}["tiktok:init-per-minute"]
    assert init.per_call and init.limit == 6


async def test_lost_status_during_publish_is_found_by_reconcile(
    fake: TikTokFake,
    ctx: PlatformContext,
    platform: TikTokPlatform,
    video: MediaInfo,
    control: SandboxControl,
) -> None:
    request = make_request(video)
    receipt = await platform.upload(request, MemorySession(), ctx)
    await control.add_fault("tiktok", "reset", path=r"/status/fetch/$", skip=1)
    with pytest.raises(OutcomeUnknown):  # every byte is in: the post may be out
        await platform.publish(request, receipt, ctx)
    found = await platform.reconcile(request, receipt, ctx)
    assert found is not None
    assert found.remote_id == fake.snapshot()["posts"][0]["id"]


async def test_failed_processing_is_rejected_with_the_reason(
    fake: TikTokFake, ctx: PlatformContext, platform: TikTokPlatform, video: MediaInfo
) -> None:
    fake.configure(fail_reason="file_format_check_failed")
    request = make_request(video)
    receipt = await platform.upload(request, MemorySession(), ctx)
    with pytest.raises(Rejected, match="file_format_check_failed"):
        await platform.publish(request, receipt, ctx)
    assert await platform.reconcile(request, receipt, ctx) is None
    assert fake.snapshot()["videos"] == []


async def test_inbox_mode_ends_in_the_creators_inbox(
    fake: TikTokFake, ctx: PlatformContext, platform: TikTokPlatform, video: MediaInfo
) -> None:
    request = make_request(video, mode="inbox")
    receipt = await platform.upload(request, MemorySession(), ctx)
    assert receipt.state["mode"] == "inbox"
    post = await platform.publish(request, receipt, ctx)
    assert post.remote_id == receipt.state["publish_id"] and post.url is None
    assert post.raw["status"] == "SEND_TO_USER_INBOX" and post.raw["note"] == INBOX_NOTE
    state = fake.snapshot()
    assert state["posts"][0]["mode"] == "inbox" and state["videos"] == []
    assert [r["path"] for r in fake.requests if "init" in str(r["path"])] == [
        "/v2/post/publish/inbox/video/init/"
    ]
    assert (await platform.reconcile(request, receipt, ctx)) == post


async def test_expired_upload_url_starts_over_with_one_post(
    fake: TikTokFake,
    host: SandboxHost,
    ctx: PlatformContext,
    platform: TikTokPlatform,
    video: MediaInfo,
    control: SandboxControl,
) -> None:
    await control.add_fault("tiktok", "reset", path=CHUNK_PUT, skip=1, after_bytes=100)
    request = make_request(video)
    first = MemorySession()
    with pytest.raises(Transient):
        await platform.upload(request, first, ctx)
    host.clock.advance(3700)  # the hour-long upload URL is dead (tokens too: refreshed)
    receipt = await platform.upload(request, first.resumed(), ctx)
    assert receipt.state["publish_id"] != first.saved[-1]["publish_id"]
    await platform.publish(request, receipt, ctx)
    state = fake.snapshot()
    assert len(state["uploads"]) == 2 and len(state["posts"]) == 1


async def test_privacy_defaults_to_private_with_a_warning_when_public_is_not_allowed(
    fake: TikTokFake, ctx: PlatformContext, platform: TikTokPlatform, video: MediaInfo
) -> None:
    from structlog.testing import capture_logs

    fake.configure(privacy_level_options=["FOLLOWER_OF_CREATOR", "SELF_ONLY"])
    with pytest.raises(Rejected, match="PUBLIC_TO_EVERYONE is not allowed"):
        await platform.upload(
            make_request(video, privacy_level="PUBLIC_TO_EVERYONE"), MemorySession(), ctx
        )
    with capture_logs() as logs:
        receipt = await platform.upload(make_request(video), MemorySession(), ctx)
    assert receipt.state["privacy_level"] == "SELF_ONLY"
    assert any(
        e["event"] == "tiktok.privacy_downgraded" and e["log_level"] == "warning" for e in logs
    )


async def test_long_caption_is_rejected_before_anything_is_sent(
    fake: TikTokFake, ctx: PlatformContext, platform: TikTokPlatform, video: MediaInfo
) -> None:
    with pytest.raises(Rejected, match="2200"):
        await platform.upload(make_request(video, caption="x" * 2201), MemorySession(), ctx)
    assert fake.snapshot()["uploads"] == []


async def test_metrics_in_batches_of_twenty(
    fake: TikTokFake,
    host: SandboxHost,
    ctx: PlatformContext,
    platform: TikTokPlatform,
    video: MediaInfo,
) -> None:
    from pellacia.contract import RemotePost

    request = make_request(video)
    post = await platform.publish(
        request, await platform.upload(request, MemorySession(), ctx), ctx
    )
    host.clock.advance(600)
    others = [RemotePost(remote_id=str(7000 + i)) for i in range(24)]
    snaps = await platform.fetch_metrics([post, *others], ctx)
    assert [s.remote_id for s in snaps] == [post.remote_id]
    metrics = snaps[0].metrics
    assert metrics["views"] > 0 and set(metrics) == {"views", "likes", "comments", "shares"}
    assert snaps[0].raw["view_count"] == metrics["views"]
    assert len([r for r in fake.requests if r["path"] == "/v2/video/query/"]) == 2
    host.clock.advance(600)
    later = await platform.fetch_metrics([post], ctx)
    assert later[0].metrics["views"] > metrics["views"]


async def test_big_file_plan_is_accepted_by_the_fake_with_real_limits(
    fake: TikTokFake, ctx: PlatformContext, platform: TikTokPlatform, tmp_path: Path
) -> None:
    """Default rules on both sides (5 MiB minimum, 10 MB chunks): the last chunk absorbs the rest."""
    fake.configure(min_chunk_size=5 * 1024 * 1024)
    ctx.settings = {"status_poll_interval": 0}
    media = write_file(tmp_path / "big.mp4", 12_000_000)
    request = make_request(media)
    receipt = await platform.upload(request, MemorySession(), ctx)
    assert (receipt.state["chunk_size"], receipt.state["total_chunk_count"]) == (10_000_000, 1)
    big = write_file(tmp_path / "bigger.mp4", 25_000_123)
    receipt = await platform.upload(make_request(big, caption="bigger"), MemorySession(), ctx)
    assert (receipt.state["chunk_size"], receipt.state["total_chunk_count"]) == (10_000_000, 2)
    assert fake.snapshot()["uploads"][1]["bytes_received"] == 25_000_123
