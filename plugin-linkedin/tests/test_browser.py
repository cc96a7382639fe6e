"""LinkedIn's share-box page script in real headless Chromium against the fake feed."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pellacia.contract import BrowserJob, MediaInfo, PublishRequest, RouteHandle
from pellacia.errors import Challenge, Transient
from pellacia_browser.launcher import BrowserSettings
from pellacia_browser.pagekit import SessionExpired
from pellacia_browser.sessions import import_cookies
from pellacia_linkedin.browser import LinkedInPageScript
from pellacia_sandbox.fakes.linkedin import LinkedInFake
from pellacia_sandbox.host import SandboxHost

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None
)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed"),
]
ACCOUNT = "sandbox-account"


@pytest.fixture(scope="module")
async def host() -> AsyncIterator[SandboxHost]:
    async with SandboxHost(only=["linkedin"]) as running:
        yield running


@pytest.fixture
def fake(host: SandboxHost) -> LinkedInFake:
    host.reset()
    linkedin = host.fake("linkedin")
    assert isinstance(linkedin, LinkedInFake)
    return linkedin


@pytest.fixture
async def script(tmp_path: Path, fake: LinkedInFake) -> LinkedInPageScript:
    settings = BrowserSettings(
        chromium_path=CHROMIUM, profiles_dir=tmp_path / "profiles", timeout_ms=5000
    )
    value = fake.web.sessions.issue(ACCOUNT)
    cookie = {"name": "sessionid", "value": value, "domain": "127.0.0.1", "path": "/"}
    await import_cookies(settings, "linkedin", ACCOUNT, [cookie])
    return LinkedInPageScript(settings)


def job(host: SandboxHost, tmp_path: Path, title: str = "Budget vote") -> BrowserJob:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(os.urandom(300_000))
    video = MediaInfo(clip, 300_000, "mp4", 10.0, 1280, 720, "h264", None, None, 30.0)
    request = PublishRequest(
        "d-1", "idem-1", "linkedin", ACCOUNT, video, title, description="Council decides."
    )
    return BrowserJob(
        request=request,
        route=RouteHandle("direct"),
        artifacts_dir=tmp_path / "evidence",
        settings={"upload_timeout_s": 30},
        sandbox_url=host.base_url,
    )


async def test_posts_the_video_with_its_text(
    script: LinkedInPageScript, host: SandboxHost, fake: LinkedInFake, tmp_path: Path
) -> None:
    fake.web.configure(overlay=True, processing_ms=1200)
    the_job = job(host, tmp_path)
    post = await script.upload(the_job)
    [made] = fake.snapshot()["posts"]
    assert made["caption"] == "Budget vote\n\nCouncil decides."
    sha = hashlib.sha256(the_job.request.video.path.read_bytes()).hexdigest()
    assert made["sha256"] == sha and made["bytes"] == 300_000
    assert post.remote_id == made["id"]
    assert post.url == f"https://www.linkedin.com/feed/update/{made['id']}/"


async def test_lost_confirmation_finds_the_post_once(
    script: LinkedInPageScript, host: SandboxHost, fake: LinkedInFake, tmp_path: Path
) -> None:
    fake.web.configure(lose_confirmation=True)
    post = await script.upload(job(host, tmp_path))
    [made] = fake.snapshot()["posts"]
    assert post.remote_id == made["id"]


@pytest.mark.parametrize(
    ("mode", "error", "match"),
    [
        ("login_wall", SessionExpired, "browser login linkedin --account sandbox-account"),
        ("captcha", Challenge, "captcha"),
        ("too_many", Challenge, "too many"),
        ("drop_upload", Transient, "broke off"),
    ],
)
async def test_blocked_or_broken(
    script: LinkedInPageScript,
    host: SandboxHost,
    fake: LinkedInFake,
    tmp_path: Path,
    mode: str,
    error: type[Exception],
    match: str,
) -> None:
    fake.web.configure(**{mode: True})
    with pytest.raises(error, match=match):
        await script.upload(job(host, tmp_path))
    assert any(p.suffix == ".png" for p in (tmp_path / "evidence").iterdir())
    assert fake.snapshot()["posts"] == []
