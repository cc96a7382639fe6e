"""The LinkedIn plugin passes the pellacia-dist platform conformance kit.

LinkedIn specifics: the media bytes go in PUTs to the per-part upload URLs
(``/dms-uploads/...``), whose size LinkedIn decides (4 MiB): the clip is noise
so that it spans two parts with the fake's real part size. The post is made by
``POST /rest/posts``. LinkedIn's 429 carries no rate-limit header (its limits
are daily, reset at midnight UTC), so ``retry_after`` is not the injected value.
The kit's account posts as an organization (a newsroom's page), whose posts and
statistics the page's admin may read.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pellacia.testing.conformance import PlatformConformance

ORGANIZATION = "urn:li:organization:2414183"  # the fake's page, administered by the kit's account


class TestLinkedInConformance(PlatformConformance):
    platform_name = "linkedin"
    chunk_path = r"^/dms-uploads/"
    chunk_method = "PUT"
    publish_path = r"^/rest/posts$"
    publish_method = "POST"
    rate_limit_exact = False
    settings: ClassVar[dict[str, Any]] = {
        "authors": {"sandbox-account": ORGANIZATION},
        "processing_poll_interval": 0.01,
    }
    #: LinkedIn wants at least 3 s and 75 KB; noise so the clip spans two 4 MiB parts
    video_kwargs: ClassVar[dict[str, Any]] = {
        "seconds": 3.5,
        "width": 320,
        "height": 240,
        "noise": True,
    }
