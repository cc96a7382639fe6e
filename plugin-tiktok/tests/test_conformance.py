"""The TikTok plugin passes the pellacia-dist platform conformance kit.

TikTok specifics: the "publish call" is ``status/fetch`` (a Direct Post goes
public by itself once every byte is in, so a lost status answer is the moment
publish() cannot tell whether the post is out); the 429 is injected on init,
TikTok's 6/min call; TikTok announces no reset time, so ``retry_after`` is the
one-minute sliding window, not the injected value.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import aiohttp
from pellacia.testing.conformance import PlatformConformance
from pellacia.testing.context import KitContext
from pellacia.testing.sandbox import SandboxHandle

SMALL_CHUNK = 16 * 1024


class TestTikTokConformance(PlatformConformance):
    platform_name = "tiktok"
    chunk_path = r"^/upload/video/$"
    chunk_method = "PUT"
    publish_path = r"^/v2/post/publish/status/fetch/$"
    publish_method = "POST"
    rate_limit_path = r"^/v2/post/publish/video/init/$"
    rate_limit_method = "POST"
    rate_limit_exact = False
    settings: ClassVar[dict[str, Any]] = {
        "chunk_size": SMALL_CHUNK,
        "min_chunk_size": SMALL_CHUNK,
        "status_poll_interval": 0.01,
    }

    #: TikTok wants at least 360 px a side and 23 fps
    video_kwargs: ClassVar[dict[str, Any]] = {
        "seconds": 2.0,
        "width": 360,
        "height": 640,
        "fps": 30,
    }

    @asynccontextmanager
    async def signed_in(self, sandbox: SandboxHandle) -> AsyncIterator[KitContext]:
        async with super().signed_in(sandbox) as kit:
            # the fake keeps TikTok's 5 MB minimum unless told: the kit's clips are small
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    f"{sandbox.base_url}/tiktok/_sandbox/config",
                    json={"min_chunk_size": SMALL_CHUNK},
                ) as resp,
            ):
                assert resp.status == 200
            yield kit
