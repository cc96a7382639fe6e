"""Where TikTok's rules are ambiguous the fake accepts only what every reading
allows, and the plugin stays inside that; its posting refusals become typed errors."""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp
import pytest
from pellacia.contract import MediaInfo, PlatformContext
from pellacia.errors import RateLimited, Rejected
from pellacia_sandbox.fakes.tiktok import MB, TikTokFake
from pellacia_tiktok.platform import TikTokPlatform
from pellacia_tiktok.upload import MAX_CHUNK, MAX_LAST_CHUNK, MIN_CHUNK, plan_chunks

from .conftest import MemorySession, make_request

GB = 1024 * MB


async def init(
    fake: TikTokFake, http: aiohttp.ClientSession, source: dict[str, Any]
) -> tuple[int, str]:
    token = fake.issue_token()["access_token"]
    body = {
        "source_info": {"source": "FILE_UPLOAD", **source},
        "post_info": {"title": "t", "privacy_level": "SELF_ONLY"},
    }
    async with http.post(
        f"{fake.base_url}/v2/post/publish/video/init/",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        return resp.status, (await resp.json())["error"]["code"]


def source(size: int, chunk: int, count: int | None = None) -> dict[str, int]:
    return {
        "video_size": size,
        "chunk_size": chunk,
        "total_chunk_count": size // chunk if count is None else count,
    }


@pytest.mark.parametrize(
    ("size", "chunk", "ok"),
    [
        (300 * MB, 64_000_000, True),  # 64 MB, decimal: valid under both readings
        (300 * MB, 64_000_001, False),  # over 64,000,000: invalid if MB is decimal
        (300 * MB, 64 * MB, False),
        (300 * MB, 5 * MB, True),  # 5 MiB: valid under both readings
        (300 * MB, 5_000_000, False),  # under 5 MiB: invalid if MB is binary
        (64_000_000, 64_000_000, True),  # one whole chunk, at the limit
        (64_000_001, 64_000_001, False),  # "over 64 MB must be chunked"
        (4_999_999, 4_999_999, True),  # under 5 MB: one chunk
        (191_999_999, 64_000_000, True),  # the last chunk absorbs 63,999,999 more bytes
    ],
)
async def test_fake_accepts_only_sizes_valid_under_every_reading(
    fake: TikTokFake, http: aiohttp.ClientSession, size: int, chunk: int, ok: bool
) -> None:
    fake.configure(min_chunk_size=5 * MB, init_per_minute=100, daily_post_cap=100)
    status, code = await init(fake, http, source(size, chunk))
    assert (status, code) == ((200, "ok") if ok else (400, "invalid_params"))


@pytest.mark.parametrize("preferred", [1, 5_000_000, 10_000_000, 64 * MB, 500 * MB])
@pytest.mark.parametrize(
    "size", [1, 4_999_999, 5 * MB + 1, 64_000_001, 64 * MB + 1, 127 * MB, 3 * GB, 4 * GB]
)
async def test_plugin_plans_only_sizes_the_fake_accepts(
    fake: TikTokFake, http: aiohttp.ClientSession, size: int, preferred: int
) -> None:
    plan = plan_chunks(size, preferred)
    if plan.chunk_size == size:  # one whole chunk
        assert size <= MAX_CHUNK
    else:
        assert MIN_CHUNK <= plan.chunk_size <= MAX_CHUNK
        assert plan.chunk(plan.total_chunk_count - 1)[1] <= MAX_LAST_CHUNK
    fake.configure(min_chunk_size=5 * MB, init_per_minute=1000, daily_post_cap=1000)
    status, code = await init(fake, http, source(size, plan.chunk_size, plan.total_chunk_count))
    assert (status, code) == (200, "ok")


async def test_inbox_pending_cap_is_a_wait_not_a_failure(
    fake: TikTokFake, ctx: PlatformContext, platform: TikTokPlatform, video: MediaInfo
) -> None:
    fake.configure(inbox_pending_cap=2)
    for _ in range(2):
        await platform.upload(make_request(video, mode="inbox"), MemorySession(), ctx)
    with pytest.raises(RateLimited, match="spam_risk_too_many_pending_share") as caught:
        await platform.upload(make_request(video, mode="inbox"), MemorySession(), ctx)
    assert caught.value.quota == "tiktok:inbox-pending" and caught.value.retry_after
    assert len(fake.snapshot()["uploads"]) == 2
    # direct posts are not held back by the inbox
    await platform.upload(make_request(video), MemorySession(), ctx)


async def test_unaudited_app_posts_self_only_to_private_accounts(
    fake: TikTokFake, ctx: PlatformContext, platform: TikTokPlatform, video: MediaInfo
) -> None:
    fake.configure(audited=False, account_private=False)
    with pytest.raises(Rejected, match="unaudited_client_can_only_post_to_private_accounts"):
        await platform.upload(make_request(video), MemorySession(), ctx)
    unaudited = dataclasses.replace(ctx, settings={**ctx.settings, "unaudited_app": True})
    with pytest.raises(Rejected, match="set to private"):  # SELF_ONLY is not enough
        await platform.upload(make_request(video), MemorySession(), unaudited)
    fake.configure(account_private=True)
    with pytest.raises(Rejected, match="unaudited_client"):  # public is still refused
        await platform.upload(make_request(video), MemorySession(), ctx)
    receipt = await platform.upload(make_request(video), MemorySession(), unaudited)
    assert receipt.state["privacy_level"] == "SELF_ONLY"
    post = await platform.publish(make_request(video), receipt, unaudited)
    assert post.remote_id.isdigit()
    assert fake.snapshot()["uploads"][-1]["complete"]


async def test_status_fetch_always_carries_fail_reason_and_post_ids(
    fake: TikTokFake, ctx: PlatformContext, platform: TikTokPlatform, video: MediaInfo
) -> None:
    answers: list[dict[str, Any]] = []
    token = fake.issue_token()["access_token"]

    async def fetch(publish_id: str) -> dict[str, Any]:
        async with ctx.http.post(
            f"{fake.base_url}/v2/post/publish/status/fetch/",
            json={"publish_id": publish_id},
            headers={"Authorization": f"Bearer {token}"},
        ) as resp:
            data: dict[str, Any] = (await resp.json())["data"]
        answers.append(data)
        return data

    fake.configure(processing_polls=2, status_per_minute=100)
    ok = await platform.upload(make_request(video), MemorySession(), ctx)
    while (await fetch(ok.state["publish_id"]))["status"] != "PUBLISH_COMPLETE":
        pass
    fake.configure(fail_reason="file_format_check_failed")
    failed = await platform.upload(make_request(video), MemorySession(), ctx)
    while (await fetch(failed.state["publish_id"]))["status"] != "FAILED":
        pass
    for data in answers:
        assert isinstance(data["fail_reason"], str)
        assert isinstance(data["publicaly_available_post_id"], list)
    assert {a["status"] for a in answers} == {"PROCESSING_UPLOAD", "PUBLISH_COMPLETE", "FAILED"}
    assert answers[-1]["fail_reason"] == "file_format_check_failed"
    complete = [a for a in answers if a["status"] == "PUBLISH_COMPLETE"]
    assert complete[0]["publicaly_available_post_id"]
