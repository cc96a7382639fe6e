"""The platform conformance kit, run against the Facebook fake (Page reels)."""

from __future__ import annotations

from pellacia.testing.conformance import PlatformConformance


class TestFacebookConformance(PlatformConformance):
    platform_name = "facebook"
    # the bytes go to the rupload upload_url video_reels start hands out
    chunk_path = r"^/video-upload/v\d+\.\d+/\d+$"
    chunk_method = "POST"
    # upload_phase=start and =finish share the path; the kit arms its lost answer
    # after the upload, so the call it hits is the finish, which makes the post
    publish_path = r"^/v\d+\.\d+/\d+/video_reels$"
    publish_method = "POST"
    # Graph sends no Retry-After: BUC throttling says when in whole minutes
    rate_limit_exact = False
    settings = {"chunk_size": 16 * 1024, "status_poll_interval": 0.05}
    # a reel: 9:16, at least 540x960, 3-90 s
    video_kwargs = {"seconds": 3.5, "width": 540, "height": 960}
