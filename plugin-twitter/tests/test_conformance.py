"""The X plugin passes the pellacia-dist platform conformance kit: no scenario overridden.

The chunk call is the v2 APPEND (``POST /2/media/upload/{id}/append``), the
call that makes the post is ``POST /2/tweets``; X announces the reset of a
429 in ``x-rate-limit-reset``, so the kit checks the wait exactly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import aiohttp
from pellacia.testing.conformance import PlatformConformance
from pellacia.testing.context import KitContext
from pellacia.testing.sandbox import SandboxHandle


class TestXConformance(PlatformConformance):
    platform_name = "twitter"
    chunk_path = r"^/2/media/upload/\d+/append$"
    chunk_method = "POST"
    publish_path = r"^/2/tweets$"
    publish_method = "POST"
    settings: ClassVar[dict[str, Any]] = {"segment_size": 16 * 1024}

    @asynccontextmanager
    async def signed_in(self, sandbox: SandboxHandle) -> AsyncIterator[KitContext]:
        async with super().signed_in(sandbox) as kit:
            # X asks for a STATUS poll every check_after_secs (1 s by default in the
            # fake): the scenarios process a dozen videos, so poll at once here
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    f"{sandbox.base_url}/twitter/_sandbox/config", json={"check_after_secs": 0}
                ) as resp,
            ):
                assert resp.status == 200
            yield kit
