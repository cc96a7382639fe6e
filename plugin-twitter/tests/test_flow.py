"""The X plugin against the sandbox's X fake over real HTTP on 127.0.0.1:
upload, processing, post, resume, reconcile and every kind of refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from pellacia.contract import MediaInfo, PlatformContext
from pellacia.errors import AuthExpired, Challenge, OutcomeUnknown, RateLimited, Rejected, Transient
from pellacia.tokens import ManagedTokenSource
from pellacia_sandbox.control import SandboxControl
from pellacia_sandbox.fakes.twitter import TwitterFake
from pellacia_sandbox.host import SandboxHost
from pellacia_twitter.platform import TwitterPlatform

from .conftest import SEGMENT, MemoryUploadSession, make_request, sha256, write_file

APPEND = r"^/2/media/upload/\d+/append$"
TWEETS = r"^/2/tweets$"


def calls(fake: TwitterFake, method: str, pattern: str) -> list[dict[str, object]]:
    import re

    return [
        r for r in fake.requests if r["method"] == method and re.search(pattern, str(r["path"]))
    ]


async def test_upload_processes_then_posts_once(
    fake: TwitterFake, ctx: PlatformContext, platform: TwitterPlatform, video: MediaInfo
) -> None:
    fake.configure(processing_polls=3)
    request = make_request(video)
    session = MemoryUploadSession()
    receipt = await platform.upload(request, session, ctx)
    # state saved after initialize and after each of the 4 acknowledged segments, then finalize
    assert [s["next_segment"] for s in session.saved] == [0, 1, 2, 3, 4, 4]
    assert session.saved[-1]["finalized"] and receipt.state["media_key"].startswith("13_")
    assert len(calls(fake, "GET", r"^/2/media/upload$")) == 3  # STATUS until succeeded
    post = await platform.publish(request, receipt, ctx)
    assert post.url == f"https://x.com/i/web/status/{post.remote_id}"
    state = fake.snapshot()
    [only] = state["posts"]
    assert only["id"] == post.remote_id and only["text"] == "Flood waters rise in the valley"
    assert only["bytes"] == video.size and only["sha256"] == sha256(video.path)
    assert state["uploads"][0]["bytes_received"] == video.size
    limits = [r for r in calls(fake, "POST", APPEND)]
    assert len(limits) == 4


async def test_expired_session_starts_over(
    fake: TwitterFake,
    ctx: PlatformContext,
    platform: TwitterPlatform,
    video: MediaInfo,
    control: SandboxControl,
    host: SandboxHost,
) -> None:
    await control.add_fault("twitter", "server_error", path=APPEND, skip=2)
    request = make_request(video)
    first = MemoryUploadSession()
    with pytest.raises(Transient):
        await platform.upload(request, first, ctx)
    assert first.saved[-1]["next_segment"] == 2
    host.clock.advance(fake.config["expires_after_secs"])  # X forgets the session
    receipt = await platform.upload(request, first.resumed(), ctx)
    assert receipt.state["media_id"] != first.saved[-1]["media_id"]
    await platform.publish(request, receipt, ctx)
    state = fake.snapshot()
    assert len(state["uploads"]) == 2 and len(state["posts"]) == 1
    assert state["posts"][0]["sha256"] == sha256(video.path)


async def test_forgotten_media_id_starts_over_once(
    fake: TwitterFake,
    ctx: PlatformContext,
    platform: TwitterPlatform,
    video: MediaInfo,
    host: SandboxHost,
) -> None:
    request = make_request(video)
    saved = {
        "v": 1, "media_id": "1880000000000009999", "media_key": "13_1880000000000009999",
        "expires_at": host.clock.time() + 86400, "total_bytes": video.size,
        "segment_size": SEGMENT, "next_segment": 2, "finalized": False, "started_at": 0,
    }  # fmt: skip
    receipt = await platform.upload(request, MemoryUploadSession(saved), ctx)
    assert receipt.state["media_id"] != saved["media_id"]
    assert [r["status"] for r in calls(fake, "POST", APPEND)][:1] == [404]


async def test_failed_processing_is_rejected(
    fake: TwitterFake, ctx: PlatformContext, platform: TwitterPlatform, video: MediaInfo
) -> None:
    fake.configure(fail_processing="Unsupported video codec")
    with pytest.raises(Rejected, match="Unsupported video codec"):
        await platform.upload(make_request(video), MemoryUploadSession(), ctx)


async def test_lost_post_answer_then_reconcile_by_media_and_by_text(
    fake: TwitterFake,
    ctx: PlatformContext,
    platform: TwitterPlatform,
    video: MediaInfo,
    control: SandboxControl,
) -> None:
    request = make_request(video)
    receipt = await platform.upload(request, MemoryUploadSession(), ctx)
    await control.add_fault("twitter", "lose_response", method="POST", path=TWEETS)
    with pytest.raises(OutcomeUnknown):
        await platform.publish(request, receipt, ctx)
    found = await platform.reconcile(request, receipt, ctx)
    [post] = fake.snapshot()["posts"]
    assert found is not None and found.remote_id == post["id"]
    assert found.url == f"https://x.com/sandbox-account/status/{post['id']}"
    by_text = await platform.reconcile(request, None, ctx)  # no upload to go by: the text
    assert by_text is not None and by_text.remote_id == post["id"]
    assert (
        await platform.reconcile(make_request(video, title="Another story", n=2), None, ctx) is None
    )
    # a repeat anyway: X refuses the duplicate text, the plugin returns the first post
    again = await platform.publish(request, receipt, ctx)
    assert again.remote_id == post["id"] and len(fake.snapshot()["posts"]) == 1


async def test_usage_cap_waits_until_next_month(
    fake: TwitterFake, ctx: PlatformContext, platform: TwitterPlatform, video: MediaInfo
) -> None:
    fake.configure(usage_cap=0)
    request = make_request(video)
    receipt = await platform.upload(request, MemoryUploadSession(), ctx)
    with pytest.raises(RateLimited) as capped:
        await platform.publish(request, receipt, ctx)
    now = ctx.clock.now()
    assert capped.value.quota == "twitter:usage-cap"
    assert capped.value.reset_at is not None and capped.value.reset_at.day == 1
    assert capped.value.reset_at > now and (capped.value.reset_at - now).days <= 31


async def test_post_window_429_waits_until_announced_reset(
    fake: TwitterFake,
    ctx: PlatformContext,
    platform: TwitterPlatform,
    tmp_path: Path,
    host: SandboxHost,
) -> None:
    limits = dict(fake.config["limits"], **{"tweets.create": 1})
    fake.configure(limits=limits)
    video = write_file(tmp_path / "a.mp4", 1000)
    first, second = make_request(video, n=1), make_request(video, title="Second", n=2)
    await platform.publish(first, await platform.upload(first, MemoryUploadSession(), ctx), ctx)
    receipt = await platform.upload(second, MemoryUploadSession(), ctx)
    with pytest.raises(RateLimited) as limited:
        await platform.publish(second, receipt, ctx)
    [refused] = [r for r in calls(fake, "POST", TWEETS) if r["status"] == 429]
    assert limited.value.quota == "twitter:posts-15min"
    assert limited.value.retry_after is not None and 880 <= limited.value.retry_after <= 901
    host.clock.advance(limited.value.retry_after)
    await platform.publish(second, receipt, ctx)
    assert refused and len(fake.snapshot()["posts"]) == 2


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            {
                "title": "Client Forbidden",
                "detail": "This request must be made using an approved developer account "
                "that is enrolled in the requested endpoint.",
                "reason": "client-not-enrolled",
                "type": "https://api.x.com/2/problems/client-forbidden",
            },
            Rejected,
        ),
        (
            {
                "title": "Forbidden",
                "type": "about:blank",
                "status": 403,
                "detail": "You are not allowed to create a Tweet with duplicate content.",
            },
            Rejected,
        ),
    ],
)
async def test_forbidden_is_rejected_as_the_body_says(
    ctx: PlatformContext,
    platform: TwitterPlatform,
    video: MediaInfo,
    control: SandboxControl,
    body: dict[str, str],
    error: type[Exception],
) -> None:
    request = make_request(video)
    receipt = await platform.upload(request, MemoryUploadSession(), ctx)
    await control.add_fault("twitter", "status", path=TWEETS, status=403, body=body)
    with pytest.raises(error):
        await platform.publish(request, receipt, ctx)


async def test_locked_account_is_a_challenge(
    ctx: PlatformContext, platform: TwitterPlatform, video: MediaInfo, control: SandboxControl
) -> None:
    request = make_request(video)
    receipt = await platform.upload(request, MemoryUploadSession(), ctx)
    await control.add_fault("twitter", "challenge", path=TWEETS)
    with pytest.raises(Challenge):
        await platform.publish(request, receipt, ctx)


async def test_refresh_rotates_the_refresh_token(
    fake: TwitterFake,
    ctx: PlatformContext,
    platform: TwitterPlatform,
    video: MediaInfo,
    tokens: ManagedTokenSource,
) -> None:
    before = (await tokens.current()).refresh_token
    fake.expire_tokens()
    await platform.upload(make_request(video), MemoryUploadSession(), ctx)
    after = (await tokens.current()).refresh_token
    assert tokens.refreshes == 1 and after and after != before
    # the old refresh token is dead: X rotated it
    import dataclasses

    from .conftest import CLIENT

    stale = dataclasses.replace(await tokens.current(), refresh_token=before)
    with pytest.raises(AuthExpired, match="refused"):
        await platform.auth.refresh(ctx, client=CLIENT, tokens=stale)


async def test_invalid_media_never_reaches_x(
    fake: TwitterFake, ctx: PlatformContext, platform: TwitterPlatform, tmp_path: Path
) -> None:
    import dataclasses

    long = dataclasses.replace(write_file(tmp_path / "long.mp4", 1000), duration=141.0)
    with pytest.raises(Rejected, match="2m20s"):
        await platform.upload(make_request(long), MemoryUploadSession(), ctx)
    wordy = write_file(tmp_path / "w.mp4", 1000)
    with pytest.raises(Rejected, match="280"):
        await platform.upload(make_request(wordy, title="界" * 141), MemoryUploadSession(), ctx)
    assert fake.requests == []


async def test_default_segments_are_4_mib(
    fake: TwitterFake, ctx: PlatformContext, platform: TwitterPlatform, tmp_path: Path
) -> None:
    import dataclasses

    video = write_file(tmp_path / "big.mp4", 4 * 1024 * 1024 + 1)
    receipt = await platform.upload(
        make_request(video), MemoryUploadSession(), dataclasses.replace(ctx, settings={})
    )
    assert receipt.state["segment_size"] == 4 * 1024 * 1024
    assert [r["bytes"] is not None for r in calls(fake, "POST", APPEND)] == [True, True]
    assert fake.snapshot()["uploads"][0]["sha256"] == sha256(video.path)


@pytest.mark.parametrize(
    ("kind", "error"),
    [("quota", RateLimited), ("server_error", Transient), ("challenge", Challenge)],
)
async def test_native_faults_on_post_are_typed(
    fake: TwitterFake,
    ctx: PlatformContext,
    platform: TwitterPlatform,
    video: MediaInfo,
    control: SandboxControl,
    kind: str,
    error: type[Exception],
) -> None:
    request = make_request(video)
    receipt = await platform.upload(request, MemoryUploadSession(), ctx)
    await control.add_fault("twitter", kind, method="POST", path=TWEETS)
    with pytest.raises(error):
        await platform.publish(request, receipt, ctx)
    assert fake.snapshot()["posts"] == []


async def test_a_401_fault_refreshes_once_and_goes_on(
    fake: TwitterFake,
    ctx: PlatformContext,
    platform: TwitterPlatform,
    video: MediaInfo,
    control: SandboxControl,
    tokens: ManagedTokenSource,
) -> None:
    request = make_request(video)
    receipt = await platform.upload(request, MemoryUploadSession(), ctx)
    await control.add_fault("twitter", "auth", method="POST", path=TWEETS)
    post = await platform.publish(request, receipt, ctx)
    assert tokens.refreshes == 1 and [p["id"] for p in fake.snapshot()["posts"]] == [post.remote_id]


async def test_metrics_leave_out_deleted_posts(
    fake: TwitterFake, ctx: PlatformContext, platform: TwitterPlatform, video: MediaInfo
) -> None:
    from pellacia.contract import RemotePost

    request = make_request(video)
    post = await platform.publish(
        request, await platform.upload(request, MemoryUploadSession(), ctx), ctx
    )
    gone = RemotePost("1900000000000099999")
    [snapshot] = await platform.fetch_metrics([post, gone], ctx)  # a 200 with errors[] beside data
    assert snapshot.remote_id == post.remote_id and snapshot.metrics["views"] >= 0
    assert "likes" in snapshot.metrics and "clicks" in snapshot.metrics  # non-public: our own post
    assert await platform.fetch_metrics([gone], ctx) == []  # a 200 with errors[] only
