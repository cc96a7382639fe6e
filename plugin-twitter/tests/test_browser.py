"""X's composer page script in real headless Chromium against the fake web composer."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from pellacia.contract import BrowserJob, MediaInfo, RouteHandle
from pellacia.errors import Challenge, Transient
from pellacia_browser.launcher import BrowserSettings
from pellacia_browser.pagekit import SessionExpired
from pellacia_browser.sessions import import_cookies
from pellacia_sandbox.fakes.twitter import TwitterFake
from pellacia_sandbox.host import SandboxHost
from pellacia_twitter.browser import XPageScript

from .conftest import make_request, sha256

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None
)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed"),
]
ACCOUNT = "sandbox-account"


@pytest.fixture
async def script(tmp_path: Path, fake: TwitterFake) -> XPageScript:
    settings = BrowserSettings(
        chromium_path=CHROMIUM, profiles_dir=tmp_path / "profiles", timeout_ms=5000
    )
    value = fake.web.sessions.issue(ACCOUNT)
    cookie = {"name": "sessionid", "value": value, "domain": "127.0.0.1", "path": "/"}
    await import_cookies(settings, "twitter", ACCOUNT, [cookie])
    return XPageScript(settings)


def job(host: SandboxHost, video: MediaInfo, tmp_path: Path, text: str) -> BrowserJob:
    return BrowserJob(
        request=make_request(video, text=text),
        route=RouteHandle("direct"),
        artifacts_dir=tmp_path / "evidence",
        settings={"upload_timeout_s": 30},
        sandbox_url=host.base_url,
    )


async def test_posts_in_the_dialog_not_the_timeline(
    script: XPageScript, host: SandboxHost, fake: TwitterFake, video: MediaInfo, tmp_path: Path
) -> None:
    fake.web.configure(overlay=True, processing_ms=1200)
    post = await script.upload(job(host, video, tmp_path, "Budget vote #news"))
    [made] = fake.snapshot()["posts"]
    assert made["text"] == "Budget vote #news" and made["sha256"] == sha256(video.path)
    assert post.remote_id == made["id"]
    assert post.url == f"https://x.com/{ACCOUNT}/status/{made['id']}"


async def test_lost_confirmation_finds_the_post_once(
    script: XPageScript, host: SandboxHost, fake: TwitterFake, video: MediaInfo, tmp_path: Path
) -> None:
    fake.web.configure(lose_confirmation=True)
    post = await script.upload(job(host, video, tmp_path, "Answer lost"))
    [made] = fake.snapshot()["posts"]
    assert post.remote_id == made["id"]


@pytest.mark.parametrize(
    ("mode", "error", "match"),
    [
        ("login_wall", SessionExpired, "browser login twitter --account sandbox-account"),
        ("captcha", Challenge, "captcha"),
        ("too_many", Challenge, "too many"),
        ("drop_upload", Transient, "broke off"),
    ],
)
async def test_blocked_or_broken(
    script: XPageScript,
    host: SandboxHost,
    fake: TwitterFake,
    video: MediaInfo,
    tmp_path: Path,
    mode: str,
    error: type[Exception],
    match: str,
) -> None:
    fake.web.configure(**{mode: True})
    with pytest.raises(error, match=match):
        await script.upload(job(host, video, tmp_path, "Blocked"))
    assert any(p.suffix == ".png" for p in (tmp_path / "evidence").iterdir())
    posts: list[Any] = fake.snapshot()["posts"]
    assert posts == []
