"""The PeerTube plugin passes the pellacia-dist conformance kit against its own fake."""

from __future__ import annotations

from typing import Any, ClassVar

from pellacia.testing.conformance import PlatformConformance


class TestPeerTubeConformance(PlatformConformance):
    platform_name = "peertube"
    # every chunk, and the "where are you" query, is a PUT to the upload URL
    chunk_path = r"^/api/v1/videos/upload-resumable$"
    chunk_method = "PUT"
    # the answer to the last chunk (200, not 308) is the new video
    upload_creates_post = True
    publish_status = (200,)
    # an upload that comes back after it was lost finds its video: never a second one
    publish_idempotent = True
    # a federated account names its instance (the sandbox stands in for it)
    base_url = "https://video.example.org"
    settings: ClassVar[dict[str, Any]] = {"chunk_size": 16 * 1024}
