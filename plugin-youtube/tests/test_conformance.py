"""The platform conformance kit, run against the YouTube fake."""

from __future__ import annotations

from pellacia.testing.conformance import PlatformConformance

SESSION = r"^/upload/youtube/v3/videos/session/"


class TestYouTubeConformance(PlatformConformance):
    platform_name = "youtube"
    # the bytes go in PUTs to the session URI; the PUT of the final chunk is
    # what makes the video exist (YouTube has no separate publish call)
    chunk_path = SESSION
    chunk_method = "PUT"
    upload_creates_post = True
    publish_status = (200, 201)  # the final chunk's answer; the chunks before it get 308
    publish_idempotent = True  # sending the final chunk again returns the same video
    # a short-term limit is a 403 rateLimitExceeded without Retry-After
    rate_limit_exact = False
    settings = {"chunk_size": 256 * 1024, "processing_poll_interval": 0.01}
    # noisy frames so the clip spans several 256 KiB chunks
    video_kwargs = {"seconds": 1.0, "width": 320, "height": 240, "noise": True}
