"""Fixtures: the sandbox host with the YouTube fake, a signed-in context, test files."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from pellacia.contract import MediaInfo, OAuthClient, PlatformContext, PublishRequest
from pellacia.http import client_session
from pellacia.tokens import ManagedTokenSource, platform_context
from pellacia_sandbox.clock import SandboxClock
from pellacia_sandbox.fakes.youtube import YouTubeFake
from pellacia_sandbox.host import SandboxHost
from pellacia_youtube.platform import YouTubePlatform

CLIENT = OAuthClient(client_id="yt-client.apps.example", client_secret="yt-client-secret-XYZ")
REDIRECT = "http://127.0.0.1:8765/callback"
KiB = 1024


class MemorySession:
    """Core's side of an upload, kept in memory: saved states and progress."""

    def __init__(self, resume_state: Mapping[str, Any] | None = None) -> None:
        self.resume_state = resume_state
        self.saved: list[dict[str, Any]] = []
        self.progressed: list[tuple[int, int]] = []
        self.on_progress: Any = None

    async def save_state(self, state: Mapping[str, Any]) -> None:
        self.resume_state = dict(state)
        self.saved.append(dict(state))

    def progress(self, sent: int, total: int) -> None:
        self.progressed.append((sent, total))
        if self.on_progress is not None:
            self.on_progress(sent, total)


def clock_at(when: datetime) -> SandboxClock:
    """A sandbox clock that reads ``when`` now (and moves on in real time)."""
    clock = SandboxClock()
    clock.offset = (when - datetime.now(UTC)).total_seconds()
    return clock


@dataclass
class Harness:
    """A running sandbox, the fake, and a signed-in PlatformContext."""

    host: SandboxHost
    fake: YouTubeFake
    http: aiohttp.ClientSession
    platform: YouTubePlatform
    tokens: ManagedTokenSource | None = None
    settings: dict[str, Any] = field(
        default_factory=lambda: {"chunk_size": 256 * KiB, "processing_poll_interval": 0.01}
    )

    def context(self, **settings: Any) -> PlatformContext:
        assert self.tokens is not None
        return platform_context(
            self.platform,
            account="newsroom",
            http=self.http,
            tokens=self.tokens,
            clock=self.host.clock,
            settings={**self.settings, **settings},
            sandbox_url=self.host.base_url,
        )

    async def login(self) -> ManagedTokenSource:
        """The real consent flow against the fake: authorize → code → token."""
        verifier = "v" * 64
        challenge = pkce(verifier)
        bootstrap = PlatformContext(
            platform="youtube",
            account="newsroom",
            http=self.http,
            tokens=None,  # type: ignore[arg-type]  # not needed to sign in
            clock=self.host.clock,
            sandbox_url=self.host.base_url,
        )
        url = self.platform.auth.authorization_url(
            bootstrap,
            client=CLIENT,
            redirect_uri=REDIRECT,
            state="st4te",
            code_challenge=challenge,
        )
        async with self.http.get(url, allow_redirects=False) as resp:
            assert resp.status == 302, await resp.text()
            query = parse_qs(urlsplit(resp.headers["Location"]).query)
        assert query["state"] == ["st4te"]
        tokens = await self.platform.auth.exchange_code(
            bootstrap,
            client=CLIENT,
            code=query["code"][0],
            redirect_uri=REDIRECT,
            code_verifier=verifier,
        )
        self.tokens = ManagedTokenSource(self.platform, CLIENT, tokens, clock=self.host.clock)
        return self.tokens

    def state(self) -> dict[str, Any]:
        return self.host.state("youtube")


def pkce(verifier: str) -> str:
    import base64

    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_file(path: Path, size: int) -> Path:
    """``size`` bytes of random data (the fake does not look inside)."""
    path.write_bytes(os.urandom(size))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_request(path: Path, *, title: str = "Breaking: test video", **kw: Any) -> PublishRequest:
    size = path.stat().st_size
    info = MediaInfo(
        path=path,
        size=size,
        container="mp4",
        duration=10.0,
        width=1280,
        height=720,
        video_codec="h264",
        audio_codec="aac",
        bitrate=None,
        fps=30.0,
    )
    return PublishRequest(
        delivery_id=kw.pop("delivery_id", "d-1"),
        idempotency_key=kw.pop("idempotency_key", "idem-1"),
        platform="youtube",
        account="newsroom",
        video=info,
        title=title,
        description=kw.pop("description", "What happened today."),
        hashtags=kw.pop("hashtags", ("#news",)),
        **kw,
    )


@pytest.fixture(scope="module")
async def yt_host() -> AsyncIterator[SandboxHost]:
    async with SandboxHost(only=["youtube"]) as host:
        yield host


@pytest.fixture
async def harness(yt_host: SandboxHost) -> AsyncIterator[Harness]:
    yt_host.reset()
    fake = yt_host.fake("youtube")
    assert isinstance(fake, YouTubeFake)
    async with client_session() as http:
        h = Harness(host=yt_host, fake=fake, http=http, platform=YouTubePlatform())
        await h.login()
        yield h
