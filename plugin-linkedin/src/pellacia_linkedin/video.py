"""A video's processing status: ``GET /rest/videos/{urn}``, polled until ``AVAILABLE``.

Statuses (protocols.md §6): ``WAITING_UPLOAD`` → ``PROCESSING`` →
``AVAILABLE`` | ``PROCESSING_FAILED``. A post may reference the video only
once it is ``AVAILABLE``.
"""

from __future__ import annotations

from typing import Any

from pellacia.contract import PlatformContext
from pellacia.errors import Rejected, Transient
from pellacia.sdk import poll_delays

from pellacia_linkedin.client import PLATFORM, LinkedInApi, urn_path


async def get_video(api: LinkedInApi, video: str) -> dict[str, Any] | None:
    """The video resource, or None when LinkedIn does not know it (404)."""
    reply = await api.request(
        "GET", f"/rest/videos/{urn_path(video)}", action="video status", accept=(404,)
    )
    if reply.status == 404:
        return None
    data = reply.json()
    return data if isinstance(data, dict) else None


async def video_status(api: LinkedInApi, video: str) -> str | None:
    """The video's ``status`` (None when unknown to LinkedIn)."""
    data = await get_video(api, video)
    return str(data.get("status")) if data else None


async def wait_available(api: LinkedInApi, video: str, ctx: PlatformContext) -> dict[str, Any]:
    """Poll until the video is ``AVAILABLE``; ``Rejected`` when processing failed.

    Polls come soon after the upload and back off (``pellacia.sdk.poll_delays``)
    up to ``processing_poll_interval`` (s, default 5); it and ``processing_max_polls``
    (default 120: ten minutes) bound the wait; then ``Transient`` (no post
    was made, so the next attempt simply waits again).
    """
    waits = poll_delays(float(ctx.settings.get("processing_poll_interval", 5.0)))
    for _ in range(int(ctx.settings.get("processing_max_polls", 120))):
        data = await get_video(api, video)
        status = data.get("status") if data else None
        if data is None:
            raise Rejected(f"LinkedIn no longer knows video {video}", platform=PLATFORM)
        if status == "AVAILABLE":
            return data
        if status == "PROCESSING_FAILED":
            reason = data.get("processingFailureReason") or "no reason given"
            raise Rejected(f"LinkedIn could not process video {video}: {reason}", platform=PLATFORM)
        await ctx.clock.sleep(next(waits))
    raise Transient(f"LinkedIn is still processing video {video}", platform=PLATFORM)
