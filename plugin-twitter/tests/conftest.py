"""Fixtures: the sandbox's X fake on 127.0.0.1, a context signed in to it, small files."""

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
from pellacia.testing.sessions import MemoryUploadSession
from pellacia.tokens import ManagedTokenSource, platform_context
from pellacia_sandbox.control import SandboxControl
from pellacia_sandbox.fakes.twitter import TwitterFake
from pellacia_sandbox.host import SandboxHost
from pellacia_twitter.platform import TwitterPlatform

SEGMENT = 64 * 1024
CLIENT = OAuthClient("sandbox-client", "sandbox-secret")

__all__ = ["SEGMENT", "MemoryUploadSession", "make_request", "sha256", "write_file"]


@pytest.fixture(scope="module")
async def host() -> AsyncIterator[SandboxHost]:
    async with SandboxHost(only=["twitter"]) as running:
        yield running


@pytest.fixture
async def fake(host: SandboxHost) -> TwitterFake:
    host.reset()
    x = host.fake("twitter")
    assert isinstance(x, TwitterFake)
    x.configure(check_after_secs=0)
    return x


@pytest.fixture
async def control(host: SandboxHost) -> SandboxControl:
    return SandboxControl(host.base_url)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with client_session() as session:
        yield session


@pytest.fixture
def platform() -> TwitterPlatform:
    return TwitterPlatform()


def token_set(body: Mapping[str, Any], host: SandboxHost) -> TokenSet:
    return TokenSet(
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
        expires_at=host.clock.now() + timedelta(seconds=body["expires_in"]),
        scopes=tuple(body["scope"].split()),
    )


@pytest.fixture
def tokens(fake: TwitterFake, host: SandboxHost, platform: TwitterPlatform) -> ManagedTokenSource:
    return ManagedTokenSource(
        platform, CLIENT, token_set(fake.issue_token(), host), clock=host.clock
    )


@pytest.fixture
def ctx(
    host: SandboxHost,
    http: aiohttp.ClientSession,
    platform: TwitterPlatform,
    tokens: ManagedTokenSource,
) -> PlatformContext:
    return platform_context(
        platform,
        account="sandbox-account",
        http=http,
        tokens=tokens,
        clock=host.clock,
        settings={"segment_size": SEGMENT},
        sandbox_url=host.base_url,
    )


def write_file(path: Path, size: int) -> MediaInfo:
    """A file of ``size`` random bytes (the upload never parses the video)."""
    path.write_bytes(os.urandom(size))
    return MediaInfo(
        path=path, size=size, container="mp4", duration=12.0, width=720, height=1280,
        video_codec="h264", audio_codec="aac", bitrate=None, fps=30.0,
    )  # fmt: skip


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def video(tmp_path: Path) -> MediaInfo:
    """4 segments of 64 KiB, the last one 1234 B."""
    return write_file(tmp_path / "clip.mp4", 3 * SEGMENT + 1234)


def make_request(
    video: MediaInfo, *, title: str = "Flood waters rise in the valley", n: int = 1, **options: Any
) -> PublishRequest:
    return PublishRequest(
        delivery_id=f"d-{n}",
        idempotency_key=f"idem-{n}",
        platform="twitter",
        account="sandbox-account",
        video=video,
        title=title,
        options=options,
    )
