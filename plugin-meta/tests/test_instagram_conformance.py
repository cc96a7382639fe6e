"""The platform conformance kit, run against the Instagram fake."""

from __future__ import annotations

from pellacia.testing.conformance import PlatformConformance


class TestInstagramConformance(PlatformConformance):
    platform_name = "instagram"
    # the bytes go to the rupload URI the container hands out
    chunk_path = r"^/ig-api-upload/v\d+\.\d+/\d+$"
    chunk_method = "POST"
    publish_path = r"^/v\d+\.\d+/\d+/media_publish$"
    publish_method = "POST"
    # Graph sends no Retry-After: BUC throttling says when in whole minutes
    rate_limit_exact = False
    settings = {"chunk_size": 64 * 1024, "status_poll_interval": 0.05}
    # Reels last 3 s to 15 min: a vertical 4 s clip, noisy so it spans several chunks
    video_kwargs = {"seconds": 3.5, "width": 270, "height": 480, "noise": True}
