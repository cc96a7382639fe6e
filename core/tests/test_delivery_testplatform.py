"""The in-repo test platform plugin against its fake, over real HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from pellacia.clock import SystemClock
from pellacia.contract import PlatformContext, PublishRequest, TokenSet
from pellacia.errors import AuthExpired, OutcomeUnknown, RateLimited, Transient
from pellacia.http import client_session
from pellacia.media import probe
from pellacia.plugins import load_plugins
from pellacia.testing.videos import make_video


class _Tokens:
    async def current(self) -> TokenSet:
        return TokenSet(access_token="tp-token-static")

    async def refresh(self) -> TokenSet:
        return TokenSet(access_token="tp-token-static")


class _Session:
    def __init__(self, resume: Mapping[str, Any] | None = None) -> None:
        self.resume_state = resume
        self.saved: list[dict[str, Any]] = []

    async def save_state(self, state: Mapping[str, Any]) -> None:
        self.saved.append(dict(state))

    def progress(self, sent: int, total: int) -> None:
        pass


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return make_video(tmp_path / "clip.mp4", seconds=1.0, noise=True)


async def test_plugin_is_discovered_through_its_entry_point(testplatform: Any) -> None:
    registry = load_plugins()
    assert "testplatform" in registry.platforms
    info = next(p for p in registry.plugins if p.name == "testplatform")
    assert info.distribution == "pellacia-dist-testplatform"
    assert info.error is None


async def test_upload_resume_publish_reconcile(testplatform: Any, video: Path) -> None:
    platform = load_plugins().platforms["testplatform"]
    media = probe(video)
    request = PublishRequest(
        delivery_id="d1",
        idempotency_key="k1",
        platform="testplatform",
        account="default",
        video=media,
        title="t",
    )
    async with client_session() as http:
        ctx = PlatformContext(
            platform="testplatform",
            account="default",
            http=http,
            tokens=_Tokens(),
            clock=SystemClock(),
            settings={"base_url": testplatform.base_url, "chunk_size": 8192},
        )
        # the third chunk's connection drops: the next try goes on from chunk 3
        # (aiohttp repeats an idempotent PUT once on a dropped keep-alive connection)
        testplatform.fail("reset", op="chunk", after=2, times=2)
        first = _Session()
        with pytest.raises(Transient):
            await platform.upload(request, first, ctx)
        assert first.saved[-1]["offset"] == 2 * 8192
        testplatform.fail("500", op="chunk")
        second = _Session(first.saved[-1])
        with pytest.raises(Transient):
            await platform.upload(request, second, ctx)
        third = _Session(second.saved[-1] if second.saved else first.saved[-1])
        receipt = await platform.upload(request, third, ctx)
        assert testplatform.bytes_received == media.size  # no byte sent twice
        assert await platform.reconcile(request, receipt, ctx) is None
        testplatform.fail("lose-response", op="publish")
        with pytest.raises(OutcomeUnknown):
            await platform.publish(request, receipt, ctx)
        found = await platform.reconcile(request, receipt, ctx)
        assert found is not None and testplatform.posts_created == 1
        testplatform.fail("429", retry_after=7)
        with pytest.raises(RateLimited) as rl:
            await platform.reconcile(request, receipt, ctx)
        assert rl.value.retry_after == 7
        testplatform.fail("401")
        with pytest.raises(AuthExpired):
            await platform.fetch_metrics([found], ctx)
        metrics = await platform.fetch_metrics([found], ctx)
        assert metrics[0].metrics["views"] == 100


def test_not_discoverable_outside_the_fixture() -> None:
    # `plugins list` of a real install shows only the real distributions
    assert "testplatform" not in load_plugins().platforms
