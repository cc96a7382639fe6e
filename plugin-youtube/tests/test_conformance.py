"""The platform conformance kit, run against the YouTube fake."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pellacia.errors import PlatformError, Rejected
from pellacia.testing.conformance import SCENARIO_TIMEOUT_S, PlatformConformance
from pellacia.testing.sandbox import SandboxHandle
from pellacia.testing.sessions import MemoryUploadSession

SESSION = r"^/upload/youtube/v3/videos/session/"


class TestYouTubeConformance(PlatformConformance):
    platform_name = "youtube"
    # the bytes go in PUTs to the session URI; the PUT of the final chunk is
    # what makes the video exist (YouTube has no separate publish call)
    chunk_path = SESSION
    chunk_method = "PUT"
    publish_path = SESSION
    publish_method = "PUT"
    # a short-term limit is a 403 rateLimitExceeded without Retry-After
    rate_limit_exact = False
    settings = {"chunk_size": 256 * 1024, "processing_poll_interval": 0.01}
    # noisy frames so the clip spans several 256 KiB chunks
    video_kwargs = {"seconds": 1.0, "width": 320, "height": 240, "noise": True}

    @pytest.mark.asyncio
    async def test_lost_publish_response_reconciles(
        self, _checked: SandboxHandle, tmp_path: Path
    ) -> None:
        """YouTube's "publish" is the final chunk: its answer is lost, reconcile finds
        the video from the saved session, and no second video is made."""
        async with asyncio.timeout(SCENARIO_TIMEOUT_S), self.signed_in(_checked) as kit:
            video = await self.video(tmp_path)
            request = self.make_request(video)
            chunks = -(-video.size // self.settings["chunk_size"])
            await _checked.control.add_fault(
                self.platform_name,
                "lose_response",
                method="PUT",
                path=SESSION,
                skip=chunks - 1,
                times=None,  # the status query right after is lost too
            )
            session = MemoryUploadSession()
            with pytest.raises(PlatformError) as lost:
                await kit.platform.upload(request, session, kit.ctx)
            assert lost.value.retryable
            await _checked.control.clear_faults()
            state = await self.state(_checked)
            assert len(state["posts"]) == 1, "the final chunk did not create the video"
            from pellacia.contract import UploadReceipt

            receipt = UploadReceipt(remote_id=None, state=session.last_state or {})
            found = await kit.platform.reconcile(request, receipt, kit.ctx)
            assert found is not None and found.remote_id == state["posts"][0]["id"]
            assert (
                await kit.platform.reconcile(self.make_request(video, n=1), None, kit.ctx) is None
            )
            assert len((await self.state(_checked))["posts"]) == 1

    @pytest.mark.asyncio
    async def test_invalid_media_refused_before_any_request(
        self, _checked: SandboxHandle, tmp_path: Path
    ) -> None:
        """YouTube takes nearly every container and codec, so the rule broken here
        is its 100-character title: refused before any request."""
        async with asyncio.timeout(SCENARIO_TIMEOUT_S), self.signed_in(_checked) as kit:
            video = await self.video(tmp_path)
            request = self.make_request(video, title="x" * 101)
            seen = len((await self.state(_checked))["requests"])
            with pytest.raises(Rejected, match="title"):
                await kit.platform.upload(request, MemoryUploadSession(), kit.ctx)
            state = await self.state(_checked)
            assert state["requests"][seen:] == []
            assert state["posts"] == []
