"""Hooks, quotas, and the transfer's resync after a refused range."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pellacia.contract import MediaInfo, PlatformContext
from pellacia.errors import Transient
from pellacia.plugins import get_registry
from pellacia_sandbox.control import SandboxControl
from pellacia_sandbox.fakes.tiktok import TikTokFake
from pellacia_tiktok.client import TikTokClient
from pellacia_tiktok.platform import TikTokPlatform
from pellacia_tiktok.upload import transfer

from .conftest import MemorySession, make_request


def test_registered_with_budgets_and_configurable_daily_cap() -> None:
    platform = get_registry().platform("tiktok")
    assert platform.capabilities.metrics_batch_size == 20
    assert not platform.capabilities.separate_publish
    fresh = TikTokPlatform()
    names = {q.name: q for q in fresh.quotas}
    assert names["tiktok:init-per-minute"].limit == 6
    assert names["tiktok:init-per-minute"].window == timedelta(minutes=1)
    assert names["tiktok:daily-posts"].limit == 15
    fresh.configure({"daily_post_cap": 20})
    assert {q.name: q.limit for q in fresh.quotas}["tiktok:daily-posts"] == 20


async def test_refused_range_resyncs_from_uploaded_bytes(
    fake: TikTokFake,
    ctx: PlatformContext,
    platform: TikTokPlatform,
    video: MediaInfo,
    control: SandboxControl,
) -> None:
    await control.add_fault("tiktok", "reset", path=r"^/upload/video/", skip=2, after_bytes=10)
    request = make_request(video)
    session = MemorySession()
    with pytest.raises(Transient):
        await platform.upload(request, session, ctx)
    # a stale state (as if another attempt's saves were lost): chunk 0 is next
    stale = {**session.saved[-1], "next_chunk": 0, "uploaded_bytes": 0}
    done = await transfer(TikTokClient(ctx), request, MemorySession(), stale)
    assert done["next_chunk"] == 4
    upload = fake.snapshot()["uploads"][0]
    assert upload["complete"] and upload["rejected_chunks"] == 1
    assert upload["bytes_received"] == video.size
