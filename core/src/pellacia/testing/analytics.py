"""Published posts on the sandbox's fakes, for analytics tests and benchmarks.

:func:`publish_on_fakes` publishes through each platform's own plugin (upload,
publish) against its fake, records each post as a published delivery, and
seals the account's tokens in the vault, where the collector finds them.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pellacia.contract import PublishRequest
from pellacia.media import probe
from pellacia.testing.context import open_platform_context
from pellacia.testing.sessions import MemoryUploadSession
from pellacia.testing.videos import make_video

#: the account every fake knows (its user name)
ACCOUNT = "sandbox-account"
ORGANIZATION = "urn:li:organization:2414183"

#: per platform: plugin settings that keep sandbox runs quick, and a clip it accepts
PLATFORMS: Mapping[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "youtube": ({"processing_poll_interval": 0.01}, {}),
    "tiktok": (
        {"status_poll_interval": 0.01},
        {"seconds": 2.0, "width": 360, "height": 640, "fps": 30},
    ),
    "twitter": ({}, {}),
    "instagram": ({"status_poll_interval": 0.01}, {"seconds": 3.5, "width": 270, "height": 480}),
    "facebook": ({"status_poll_interval": 0.01}, {"seconds": 3.5, "width": 270, "height": 480}),
    "linkedin": (
        {"authors": {ACCOUNT: ORGANIZATION}, "processing_poll_interval": 0.01},
        {"seconds": 3.5, "width": 320, "height": 240, "noise": True},
    ),
}


async def _publish(platform: Any, request: PublishRequest, ctx: Any) -> Any:
    """Upload and publish, again after a transient failure (as the engine would)."""
    from pellacia.errors import Transient

    for attempt in range(3):
        try:
            receipt = await platform.upload(request, MemoryUploadSession(), ctx)
            return await platform.publish(request, receipt, ctx)
        except Transient:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Published:
    platform: str
    remote_id: str
    delivery_id: uuid.UUID


def plugin_settings(platforms: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The ``[plugins.*]`` tables the collector needs to reach these fakes."""
    return {p: dict(PLATFORMS[p][0]) for p in platforms}


async def publish_on_fakes(
    pool: Any,
    settings: Any,
    registry: Any,
    platforms: Sequence[str],
    *,
    per_platform: int,
    published_at: datetime,
) -> list[Published]:
    """``per_platform`` posts on each platform's fake, recorded as published."""
    from pellacia.store import analytics as store
    from pellacia.vault import open_vault

    vault = open_vault(settings.data_dir, None)
    out: list[Published] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in platforms:
            plugin, clip = PLATFORMS[name]
            video = probe(make_video(Path(tmp) / f"{name}.mp4", **clip))
            platform = registry.platform(name)
            async with open_platform_context(
                platform, settings.sandbox_url, account=ACCOUNT, settings=plugin
            ) as kit:
                for n in range(per_platform):
                    request = PublishRequest(
                        delivery_id=f"d-{uuid.uuid4().hex[:12]}",
                        idempotency_key=uuid.uuid4().hex,
                        platform=name,
                        account=ACCOUNT,
                        video=video,
                        title=f"{name} analytics {n}",
                        description=f"analytics post {n}",
                    )
                    post = await _publish(platform, request, kit.ctx)
                    async with pool.acquire() as conn:
                        delivery = await store.insert_published(
                            conn,
                            platform=name,
                            account=ACCOUNT,
                            remote_id=post.remote_id,
                            remote_url=post.url,
                            published_at=published_at,
                            title=request.title,
                        )
                    out.append(Published(name, post.remote_id, delivery))
                async with pool.acquire() as conn:
                    await vault.put(conn, name, ACCOUNT, await kit.tokens.current())
    return out
