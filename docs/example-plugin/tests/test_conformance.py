"""The example plugin passes the pellacia-dist conformance kit against its sandbox fake."""

from __future__ import annotations

from pellacia.testing.conformance import PlatformConformance


class TestExampleConformance(PlatformConformance):
    platform_name = "example"
    # Where the protocol carries media bytes, and the call that creates the post:
    chunk_path = r"^/v1/uploads/[^/]+$"
    chunk_method = "PUT"
    publish_path = r"^/v1/posts$"
    publish_method = "POST"
    # Small chunks, so the 2-second test clip spans several and resume is exercised.
    settings = {"chunk_size": 16 * 1024}
