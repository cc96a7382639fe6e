"""Fixtures: the sandbox's TikTok fake on 127.0.0.1, a context wired to it, small files."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pellacia.contract import MediaInfo, OAuthClient, PlatformContext, PublishRequest, TokenSet
from pellacia.http import client_session
from pellacia.tokens import ManagedTokenSource, platform_context
from pellacia_sandbox.control import SandboxControl
from pellacia_sandbox.fakes.tiktok import TikTokFake
from pellacia_sandbox.host import SandboxHost
from pellacia_tiktok.platform import TikTokPlatform

CHUNK = 64 * 1024  # tests move kilobytes: fake and plugin both lower the minimum chunk
CLIENT = OAuthClient("sandbox-client", "sandbox-secret")


class MemorySession:
    """Core's side of an upload, kept in memory: what was saved, what progress said."""

    def __init__(self, resume_state: Mapping[str, Any] | None = None) -> None:
        self.resume_state = dict(resume_state) if resume_state else None
        self.saved: list[dict[str, Any]] = []
        self.progress_calls: list[tuple[int, int]] = []

    async def save_state(self, state: Mapping[str, Any]) -> None:
        self.saved.append(dict(state))

    def progress(self, sent: int, total: int) -> None:
        self.progress_calls.append((sent, total))

    def resumed(self) -> MemorySession:
        """A new attempt's session, starting from the last saved state."""
        return MemorySession(self.saved[-1] if self.saved else None)


@pytest.fixture(scope="module")
async def host() -> AsyncIterator[SandboxHost]:
    async with SandboxHost(only=["tiktok"]) as running:
        yield running


@pytest.fixture
async def fake(host: SandboxHost) -> TikTokFake:
    host.reset()
    tiktok = host.fake("tiktok")
    assert isinstance(tiktok, TikTokFake)
    tiktok.configure(min_chunk_size=CHUNK)
    return tiktok


@pytest.fixture
async def control(host: SandboxHost) -> SandboxControl:
    return SandboxControl(host.base_url)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with client_session() as session:
        yield session


@pytest.fixture
def platform() -> TikTokPlatform:
    return TikTokPlatform()


def token_set(body: Mapping[str, Any], host: SandboxHost) -> TokenSet:
    now = host.clock.now()
    return TokenSet(
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
        expires_at=now + timedelta(seconds=body["expires_in"]),
        refresh_expires_at=now + timedelta(seconds=body["refresh_expires_in"]),
        scopes=tuple(body["scope"].split(",")),
        extra={"open_id": body["open_id"]},
    )


@pytest.fixture
def ctx(
    fake: TikTokFake, host: SandboxHost, http: aiohttp.ClientSession, platform: TikTokPlatform
) -> PlatformContext:
    tokens = ManagedTokenSource(
        platform, CLIENT, token_set(fake.issue_token(), host), clock=host.clock
    )
    return platform_context(
        platform,
        account="sandbox-account",
        http=http,
        tokens=tokens,
        clock=host.clock,
        settings={"chunk_size": CHUNK, "min_chunk_size": CHUNK, "status_poll_interval": 0},
        sandbox_url=host.base_url,
    )


def write_file(path: Path, size: int) -> MediaInfo:
    """A file of ``size`` random bytes (the upload never parses the video)."""
    path.write_bytes(os.urandom(size))
    return MediaInfo(
        path=path, size=size, container="mp4", duration=12.0, width=1080, height=1920,
        video_codec="h264", audio_codec="aac", bitrate=None, fps=30.0,
    )  # fmt: skip


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def video(tmp_path: Path) -> MediaInfo:
    """4 chunks of 64 KiB, the last one 64 KiB + 1234 B."""
    return write_file(tmp_path / "clip.mp4", 4 * CHUNK + 1234)


def make_request(
    video: MediaInfo, *, caption: str = "Flood waters rise in the valley", **options: Any
) -> PublishRequest:
    return PublishRequest(
        delivery_id="d-1",
        idempotency_key="idem-1",
        platform="tiktok",
        account="sandbox-account",
        video=video,
        title=caption,
        options=options,
    )
