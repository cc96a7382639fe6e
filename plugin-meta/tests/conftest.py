"""Fixtures: Meta fakes reset per test, generated clips, requests."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from pellacia.contract import MediaInfo, PublishRequest
from pellacia.media import probe
from pellacia.testing.sandbox import SandboxHandle
from pellacia.testing.videos import make_video


@pytest.fixture
async def meta(sandbox: SandboxHandle) -> SandboxHandle:
    """The sandbox with both Meta fakes fresh and no faults."""
    for platform in ("instagram", "facebook"):
        sandbox.require(platform)
        await sandbox.control.reset(platform)
    await sandbox.control.clear_faults()
    return sandbox


@pytest.fixture(scope="session")
def reel_clip(tmp_path_factory: pytest.TempPathFactory) -> MediaInfo:
    """A 4 s 540x960 clip: a reel on both platforms."""
    path = make_video(tmp_path_factory.mktemp("v") / "reel.mp4", seconds=4.0, width=540, height=960)
    return probe(path)


@pytest.fixture(scope="session")
def landscape_clip(tmp_path_factory: pytest.TempPathFactory) -> MediaInfo:
    """A 4 s 640x360 clip: a regular Facebook video."""
    path = make_video(tmp_path_factory.mktemp("v") / "wide.mp4", seconds=4.0, width=640, height=360)
    return probe(path)


def request_for(platform: str, video: MediaInfo, title: str = "Flood", **kw: Any) -> PublishRequest:
    key = uuid.uuid4().hex
    return PublishRequest(
        delivery_id=f"d-{key[:8]}",
        idempotency_key=key,
        platform=platform,
        account="sandbox-account",
        video=video,
        title=f"{title} {key[:6]}",
        description=kw.pop("description", "River levels rising."),
        hashtags=kw.pop("hashtags", ("#news",)),
        **kw,
    )


def fake(sandbox: SandboxHandle, platform: str) -> Any:
    """The fake object itself (it lives on the sandbox's thread: set plain attributes only)."""
    return sandbox.host.fake(platform)


async def state(sandbox: SandboxHandle, platform: str) -> dict[str, Any]:
    result: dict[str, Any] = await sandbox.control.state(platform)
    return result


def not_a_video(tmp: Path, size: int = 200_000) -> Path:
    path = tmp / "noise.mp4"
    path.write_bytes(b"\x00" * 8 + bytes(range(256)) * (size // 256))
    return path
