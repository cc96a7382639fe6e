"""The YouTube platform object: capabilities, media rules, protocol client."""

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
    containers=frozenset({"mp4", "mov", "webm", "matroska", "avi", "flv", "mpeg"}),
    max_bytes=256 * 1024**3,
    max_duration=12 * 3600,
    max_title_chars=100,
    max_description_chars=5000,
)

CAPABILITIES = Capabilities(
    resumable_upload=True, separate_publish=False, scheduled_publish=True, metrics_batch_size=50
)


class YouTubeAuth:
    scopes: Sequence[str] = ()

    def authorization_url(self, ctx: PlatformContext, **_: Any) -> str:
        raise Unsupported("YouTube sign-in is not implemented yet", platform="youtube")

    async def exchange_code(self, ctx: PlatformContext, **_: Any) -> TokenSet:
        raise Unsupported("YouTube sign-in is not implemented yet", platform="youtube")

    async def refresh(self, ctx: PlatformContext, **_: Any) -> TokenSet:
        raise Unsupported("YouTube token refresh is not implemented yet", platform="youtube")


class YouTubePlatform:
    name = "youtube"
    display_name = "YouTube"
    capabilities = CAPABILITIES
    media_rules = MEDIA_RULES
    quotas: Sequence[QuotaBudget] = ()

    def __init__(self) -> None:
        self.auth = YouTubeAuth()

    async def upload(
        self, request: PublishRequest, session: UploadSession, ctx: PlatformContext
    ) -> UploadReceipt:
        raise Unsupported("YouTube upload is not implemented yet", platform=self.name)

    async def publish(
        self, request: PublishRequest, receipt: UploadReceipt, ctx: PlatformContext
    ) -> RemotePost:
        raise Unsupported("YouTube publish is not implemented yet", platform=self.name)

    async def reconcile(
        self, request: PublishRequest, receipt: UploadReceipt | None, ctx: PlatformContext
    ) -> RemotePost | None:
        raise Unsupported("YouTube reconcile is not implemented yet", platform=self.name)

    async def fetch_metrics(
        self, posts: Sequence[RemotePost], ctx: PlatformContext
    ) -> list[MetricsSnapshot]:
        raise Unsupported("YouTube analytics are not implemented yet", platform=self.name)
