"""TikTok Studio's page script in real headless Chromium against the fake upload page."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pellacia.contract import BrowserJob, MediaInfo, RouteHandle
from pellacia.errors import Challenge, OutcomeUnknown, Transient
from pellacia_browser.launcher import BrowserSettings
from pellacia_browser.pagekit import SessionExpired
from pellacia_browser.sessions import Profiles, import_cookies
from pellacia_sandbox.fakes.tiktok import TikTokFake
from pellacia_sandbox.host import SandboxHost
from pellacia_tiktok.browser import TikTokPageScript

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
async def script(tmp_path: Path, host: SandboxHost, fake: TikTokFake) -> TikTokPageScript:
    """The page script with a profile signed in to the fake (an imported session cookie)."""
    settings = BrowserSettings(
        chromium_path=CHROMIUM, profiles_dir=tmp_path / "profiles", timeout_ms=5000
    )
    cookie = {
        "name": "sessionid",
        "value": fake.web.sessions.issue(ACCOUNT),
        "domain": "127.0.0.1",
        "path": "/",
    }
    await import_cookies(settings, "tiktok", ACCOUNT, [cookie])
    return TikTokPageScript(settings)


def job(host: SandboxHost, video: MediaInfo, tmp_path: Path, caption: str) -> BrowserJob:
    return BrowserJob(
        request=make_request(video, caption=caption),
        route=RouteHandle("direct"),
        artifacts_dir=tmp_path / "evidence",
        settings={"upload_timeout_s": 30},
        sandbox_url=host.base_url,
    )


def web_posts(fake: TikTokFake) -> list[dict[str, object]]:
    return [p for p in fake.snapshot()["posts"] if p["publish_id"].startswith("v_web")]


async def test_happy_path_returns_the_post_url(
    script: TikTokPageScript, host: SandboxHost, fake: TikTokFake, video: MediaInfo, tmp_path: Path
) -> None:
    fake.web.configure(processing_ms=1500)  # slow processing: Post waits for it
    caption = "Flood waters rise\n\nin the valley #news"
    post = await script.upload(job(host, video, tmp_path, caption))
    [made] = web_posts(fake)
    assert made["caption"] == caption  # typed with real input events, file name cleared
    assert made["sha256"] == sha256(video.path) and made["bytes"] == video.size
    assert made["account"] == ACCOUNT and made["status"] == "PUBLISH_COMPLETE"
    assert post.remote_id == made["video_id"] and len(post.remote_id) == 19
    assert post.url == f"https://www.tiktok.com/@{ACCOUNT}/video/{post.remote_id}"
    info = Profiles(script.settings.profile_root()).read("tiktok", ACCOUNT)
    assert info.logged_in is True and len(info.posts) == 1


async def test_the_api_sees_the_web_post(
    script: TikTokPageScript,
    host: SandboxHost,
    fake: TikTokFake,
    video: MediaInfo,
    tmp_path: Path,
    ctx: object,
) -> None:
    from pellacia_tiktok.platform import TikTokPlatform

    request = job(host, video, tmp_path, "Seen by the API").request
    post = await script.upload(job(host, video, tmp_path, "Seen by the API"))
    found = await TikTokPlatform().reconcile(request, None, ctx)  # type: ignore[arg-type]
    assert found is not None and found.remote_id == post.remote_id


async def test_overlays_are_dismissed(
    script: TikTokPageScript, host: SandboxHost, fake: TikTokFake, video: MediaInfo, tmp_path: Path
) -> None:
    fake.web.configure(overlay=True)
    await script.upload(job(host, video, tmp_path, "Behind a modal"))
    assert len(web_posts(fake)) == 1


async def test_login_wall_is_a_challenge_with_a_screenshot(
    script: TikTokPageScript, host: SandboxHost, fake: TikTokFake, video: MediaInfo, tmp_path: Path
) -> None:
    fake.web.configure(login_wall=True)
    with pytest.raises(SessionExpired, match="browser login tiktok --account sandbox-account"):
        await script.upload(job(host, video, tmp_path, "Signed out"))
    evidence = sorted(p.suffix for p in (tmp_path / "evidence").iterdir())
    assert evidence == [".html", ".png", ".txt"]
    assert "SelectFormContainer" in next((tmp_path / "evidence").glob("*.html")).read_text()
    assert Profiles(script.settings.profile_root()).read("tiktok", ACCOUNT).logged_in is False
    assert web_posts(fake) == []


@pytest.mark.parametrize("mode", ["captcha", "too_many"])
async def test_captcha_and_too_many_attempts_are_challenges(
    script: TikTokPageScript,
    host: SandboxHost,
    fake: TikTokFake,
    video: MediaInfo,
    tmp_path: Path,
    mode: str,
) -> None:
    fake.web.configure(**{mode: True})
    with pytest.raises(Challenge, match="captcha" if mode == "captcha" else "too many"):
        await script.upload(job(host, video, tmp_path, "Blocked"))
    assert any(p.suffix == ".png" for p in (tmp_path / "evidence").iterdir())
    assert web_posts(fake) == []


async def test_network_drop_mid_upload_is_transient(
    script: TikTokPageScript, host: SandboxHost, fake: TikTokFake, video: MediaInfo, tmp_path: Path
) -> None:
    fake.web.configure(drop_upload=True)
    with pytest.raises(Transient, match="broke off") as err:
        await script.upload(job(host, video, tmp_path, "Dropped"))
    assert not isinstance(err.value, OutcomeUnknown)
    assert web_posts(fake) == []


async def test_lost_confirmation_finds_the_post_and_never_posts_twice(
    script: TikTokPageScript, host: SandboxHost, fake: TikTokFake, video: MediaInfo, tmp_path: Path
) -> None:
    fake.web.configure(lose_confirmation=True)
    post = await script.upload(job(host, video, tmp_path, "Answer lost"))
    [made] = web_posts(fake)  # the page re-enabled Post; the script looked instead
    assert post.remote_id == made["video_id"]


async def test_rehearsal_stops_before_posting(
    script: TikTokPageScript, host: SandboxHost, fake: TikTokFake, video: MediaInfo, tmp_path: Path
) -> None:
    steps = await script.rehearse(job(host, video, tmp_path, "Only a rehearsal"))
    assert steps[0] == "upload page loaded; the session is signed in"
    assert steps[-2:] == ["Post button enabled", "ready to publish (not clicked)"]
    assert web_posts(fake) == []


async def test_reconcile_looks_on_the_content_page(
    script: TikTokPageScript, host: SandboxHost, fake: TikTokFake, video: MediaInfo, tmp_path: Path
) -> None:
    """After an unknown outcome the executor asks the page script first: the
    delivery's caption on Studio's post list is its post; absent, None."""
    assert await script.reconcile(job(host, video, tmp_path, "Not yet posted")) is None
    post = await script.upload(job(host, video, tmp_path, "Posted once"))
    found = await script.reconcile(job(host, video, tmp_path, "Posted once"))
    assert found is not None and (found.remote_id, found.url) == (post.remote_id, post.url)
    assert len(web_posts(fake)) == 1  # looking never posts
    fake.web.configure(login_wall=True)
    with pytest.raises(SessionExpired):
        await script.reconcile(job(host, video, tmp_path, "Posted once"))
