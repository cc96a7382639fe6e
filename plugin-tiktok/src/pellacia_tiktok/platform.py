"""The TikTok platform object: capabilities, media rules, protocol client."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pellacia.contract import (
    Capabilities,
    MediaRules,
    MetricsSnapshot,
    PlatformContext,
    PublishRequest,
    QuotaBudget,
    RemotePost,
    TokenSet,
    UploadReceipt,
    UploadSession,
)
from pellacia.errors import Unsupported

MEDIA_RULES = MediaRules(
    containers=frozenset({"mp4", "mov", "webm"}),
    video_codecs=frozenset({"h264", "hevc", "vp8", "vp9"}),
    max_bytes=4 * 1024**3,
    max_duration=600,
    min_side=360,
    max_side=4096,
    min_fps=23,
    max_fps=60,
    max_description_chars=2200,
)

CAPABILITIES = Capabilities(
    resumable_upload=True, separate_publish=False, scheduled_publish=False, metrics_batch_size=20
)


class TikTokAuth:
    scopes: Sequence[str] = ()

    def authorization_url(self, ctx: PlatformContext, **_: Any) -> str:
        raise Unsupported("TikTok sign-in is not implemented yet", platform="tiktok")

    async def exchange_code(self, ctx: PlatformContext, **_: Any) -> TokenSet:
        raise Unsupported("TikTok sign-in is not implemented yet", platform="tiktok")

    async def refresh(self, ctx: PlatformContext, **_: Any) -> TokenSet:
        raise Unsupported("TikTok token refresh is not implemented yet", platform="tiktok")


class TikTokPlatform:
    name = "tiktok"
    display_name = "TikTok"
    capabilities = CAPABILITIES
    media_rules = MEDIA_RULES
    quotas: Sequence[QuotaBudget] = ()

    def __init__(self) -> None:
        self.auth = TikTokAuth()

    async def upload(
        self, request: PublishRequest, session: UploadSession, ctx: PlatformContext
    ) -> UploadReceipt:
        raise Unsupported("TikTok upload is not implemented yet", platform=self.name)

    async def publish(
        self, request: PublishRequest, receipt: UploadReceipt, ctx: PlatformContext
    ) -> RemotePost:
        raise Unsupported("TikTok publish is not implemented yet", platform=self.name)

    async def reconcile(
        self, request: PublishRequest, receipt: UploadReceipt | None, ctx: PlatformContext
    ) -> RemotePost | None:
        raise Unsupported("TikTok reconcile is not implemented yet", platform=self.name)

    async def fetch_metrics(
        self, posts: Sequence[RemotePost], ctx: PlatformContext
    ) -> list[MetricsSnapshot]:
        raise Unsupported("TikTok analytics are not implemented yet", platform=self.name)
