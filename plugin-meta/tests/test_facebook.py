"""Facebook beyond the kit: reel or video per post, regular Page videos, the reels budget."""

from __future__ import annotations

from typing import Any

import pytest
from pellacia.errors import OutcomeUnknown, PlatformError, RateLimited, Rejected
from pellacia.testing.sandbox import SandboxHandle
from pellacia.testing.sessions import MemoryUploadSession
from pellacia.testing.videos import media_info
from pellacia_meta.facebook import format_of

from .conftest import fake, request_for, state

SETTINGS = {"chunk_size": 16 * 1024, "status_poll_interval": 0.05}


def test_the_media_picks_reel_or_video_and_the_option_overrides() -> None:
    vertical, wide = media_info(duration=30.0), media_info(width=1920, height=1080)
    assert format_of(request_for("facebook", vertical)) == "reel"
    assert format_of(request_for("facebook", media_info(duration=120.0))) == "video"
    assert format_of(request_for("facebook", wide)) == "video"
    assert format_of(request_for("facebook", vertical, options={"format": "video"})) == "video"
    with pytest.raises(Rejected, match="reel or video"):
        format_of(request_for("facebook", vertical, options={"format": "story"}))


async def test_a_landscape_clip_goes_out_as_a_page_video(
    meta: SandboxHandle, sandbox_context: Any, landscape_clip: Any
) -> None:
    request = request_for("facebook", landscape_clip)
    async with sandbox_context("facebook", settings=SETTINGS) as kit:
        session = MemoryUploadSession()
        receipt = await kit.platform.upload(request, session, kit.ctx)
        assert receipt.state["format"] == "video" and receipt.state["handle"]
        post = await kit.platform.publish(request, receipt, kit.ctx)
        assert session.progress_calls[-1] == (landscape_clip.size, landscape_clip.size)
        metrics = await kit.platform.fetch_metrics([post], kit.ctx)
    [made] = (await state(meta, "facebook"))["posts"]
    assert (made["id"], made["kind"], made["bytes"]) == (
        post.remote_id,
        "video",
        landscape_clip.size,
    )
    assert made["title"] == request.title and request.title in made["caption"]
    assert [m.remote_id for m in metrics] == [post.remote_id] and "views" in metrics[0].metrics


async def test_a_forced_reel_that_breaks_the_reel_rules_is_refused_before_any_request(
    meta: SandboxHandle, sandbox_context: Any, landscape_clip: Any
) -> None:
    request = request_for("facebook", landscape_clip, options={"format": "reel"})
    async with sandbox_context("facebook", settings=SETTINGS) as kit:
        seen = len((await state(meta, "facebook"))["requests"])
        with pytest.raises(Rejected, match=r"facebook.format=video"):
            await kit.platform.upload(request, MemoryUploadSession(), kit.ctx)
        assert (await state(meta, "facebook"))["requests"][seen:] == []


async def test_a_page_video_resumes_its_session_from_the_servers_offset(
    meta: SandboxHandle, sandbox_context: Any, landscape_clip: Any
) -> None:
    request = request_for("facebook", landscape_clip)
    async with sandbox_context("facebook", settings=SETTINGS) as kit:
        await meta.control.add_fault(
            "facebook", "reset", path=r"/upload:", method="POST", skip=2, times=None,
            after_bytes=100,
        )  # fmt: skip
        first = MemoryUploadSession()
        with pytest.raises(PlatformError) as reset:
            await kit.platform.upload(request, first, kit.ctx)
        assert reset.value.retryable
        await meta.control.clear_faults()
        receipt = await kit.platform.upload(request, first.resumed(), kit.ctx)
        await kit.platform.publish(request, receipt, kit.ctx)
    snap = await state(meta, "facebook")
    assert len(snap["uploads"]) == 1 and len(snap["posts"]) == 1
    assert snap["uploads"][0]["bytes_received"] < 2 * landscape_clip.size


async def test_a_lost_page_video_answer_is_found_by_its_description(
    meta: SandboxHandle, sandbox_context: Any, landscape_clip: Any
) -> None:
    request = request_for("facebook", landscape_clip)
    async with sandbox_context("facebook", settings=SETTINGS) as kit:
        receipt = await kit.platform.upload(request, MemoryUploadSession(), kit.ctx)
        await meta.control.add_fault("facebook", "lose_response", path=r"/videos$", method="POST")
        with pytest.raises(OutcomeUnknown):
            await kit.platform.publish(request, receipt, kit.ctx)
        found = await kit.platform.reconcile(request, receipt, kit.ctx)
        other = await kit.platform.reconcile(request_for("facebook", landscape_clip), None, kit.ctx)
    [made] = (await state(meta, "facebook"))["posts"]
    assert found is not None and found.remote_id == made["id"]
    assert other is None


async def test_the_reels_budget_is_a_wait(
    meta: SandboxHandle, sandbox_context: Any, reel_clip: Any
) -> None:
    fake(meta, "facebook").reels_limit = 0
    async with sandbox_context("facebook", settings=SETTINGS) as kit:
        with pytest.raises(RateLimited) as full:
            await kit.platform.upload(
                request_for("facebook", reel_clip), MemoryUploadSession(), kit.ctx
            )
    assert full.value.quota == "facebook:reels-24h"


async def test_reconcile_of_an_unfinished_reel_is_none(
    meta: SandboxHandle, sandbox_context: Any, reel_clip: Any
) -> None:
    request = request_for("facebook", reel_clip)
    async with sandbox_context("facebook", settings=SETTINGS) as kit:
        receipt = await kit.platform.upload(request, MemoryUploadSession(), kit.ctx)
        assert await kit.platform.reconcile(request, receipt, kit.ctx) is None
        post = await kit.platform.publish(request, receipt, kit.ctx)
        again = await kit.platform.reconcile(request, receipt, kit.ctx)
        assert again is not None and again.remote_id == post.remote_id
        assert post.url and post.url.endswith(f"/reel/{post.remote_id}")


async def test_a_future_reel_is_scheduled_on_facebook(
    meta: SandboxHandle, sandbox_context: Any, reel_clip: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    when = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    request = request_for("facebook", reel_clip, scheduled_at=when)
    async with sandbox_context("facebook", settings=SETTINGS) as kit:
        receipt = await kit.platform.upload(request, MemoryUploadSession(), kit.ctx)
        post = await kit.platform.publish(request, receipt, kit.ctx)
        assert post.published_at == when
        found = await kit.platform.reconcile(request, receipt, kit.ctx)
        assert found is not None and found.remote_id == post.remote_id
        assert (await state(meta, "facebook"))["posts"] == []  # not out yet
        await meta.control.advance_clock(3 * 3600)
        assert len((await state(meta, "facebook"))["posts"]) == 1
