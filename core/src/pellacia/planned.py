"""A base for platforms whose protocol client is not written yet.

Such a platform still contributes its media rules, capabilities and quotas
(validation, spacing and quota waits use them), while every network operation
raises ``Unsupported``: the delivery falls through to the next layer of its
chain (browser, then the manual queue) instead of ever reporting a post that
was not made. Third-party plugins can start from it too.
"""

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


def not_yet(display_name: str, what: str, platform: str, distribution: str) -> Unsupported:
    """The error of an operation the plugin does not implement (yet)."""
    return Unsupported(
        f"{display_name} {what} is not implemented yet in {distribution}; "
        "the delivery falls through to the next layer",
        platform=platform,
    )


class PlannedAuth:
    """OAuth whose sign-in is not implemented yet (``scopes`` documents what it will ask)."""

    def __init__(self, owner: PlannedPlatform) -> None:
        self._owner = owner
        self.scopes: Sequence[str] = tuple(owner.scopes)

    def authorization_url(self, ctx: PlatformContext, **_: Any) -> str:
        raise self._owner.not_yet("sign-in")

    async def exchange_code(self, ctx: PlatformContext, **_: Any) -> TokenSet:
        raise self._owner.not_yet("sign-in")

    async def refresh(self, ctx: PlatformContext, **_: Any) -> TokenSet:
        raise self._owner.not_yet("token refresh")


class PlannedPlatform:
    """Subclass and set the class attributes; every operation raises ``Unsupported``."""

    name: str = ""
    display_name: str = ""
    distribution: str = ""  # "pellacia-dist-meta 0.1", named in the error
    capabilities: Capabilities = Capabilities()
    media_rules: MediaRules = MediaRules()
    quotas: Sequence[QuotaBudget] = ()
    scopes: Sequence[str] = ()

    def __init__(self) -> None:
        self.auth = PlannedAuth(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def not_yet(self, what: str) -> Unsupported:
        return not_yet(self.display_name, what, self.name, self.distribution)

    async def upload(
        self, request: PublishRequest, session: UploadSession, ctx: PlatformContext
    ) -> UploadReceipt:
        raise self.not_yet("upload")

    async def publish(
        self, request: PublishRequest, receipt: UploadReceipt, ctx: PlatformContext
    ) -> RemotePost:
        raise self.not_yet("publish")

    async def reconcile(
        self, request: PublishRequest, receipt: UploadReceipt | None, ctx: PlatformContext
    ) -> RemotePost | None:
        raise self.not_yet("reconcile")

    async def fetch_metrics(
        self, posts: Sequence[RemotePost], ctx: PlatformContext
    ) -> list[MetricsSnapshot]:
        raise self.not_yet("analytics")
