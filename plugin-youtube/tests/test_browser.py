"""YouTube Studio's page script in real headless Chromium against the fake upload dialog."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from pellacia.contract import BrowserJob, RouteHandle
from pellacia.errors import Challenge, Transient
from pellacia_browser.launcher import BrowserSettings
from pellacia_browser.pagekit import SessionExpired
from pellacia_browser.sessions import import_cookies
from pellacia_youtube.browser import YouTubePageScript
from pellacia_youtube.platform import delivery_tag

from .conftest import Harness, make_request, sha256

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None
)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed"),
]


@pytest.fixture
async def script(tmp_path: Path, harness: Harness) -> YouTubePageScript:
    settings = BrowserSettings(
        chromium_path=CHROMIUM, profiles_dir=tmp_path / "profiles", timeout_ms=5000
    )
    value = harness.fake.web.sessions.issue("newsroom")
    cookie = {"name": "sessionid", "value": value, "domain": "127.0.0.1", "path": "/"}
    await import_cookies(settings, "youtube", "newsroom", [cookie])
    return YouTubePageScript(settings)


def job(harness: Harness, tmp_path: Path, title: str = "Budget vote") -> BrowserJob:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(os.urandom(300_000))
    return BrowserJob(
        request=make_request(clip, title=title),
        route=RouteHandle("direct"),
        artifacts_dir=tmp_path / "evidence",
        settings={"upload_timeout_s": 30},
        sandbox_url=harness.host.base_url,
    )


def web_videos(harness: Harness) -> list[dict[str, object]]:
    return [v for v in harness.fake.videos.values() if v.get("_via") == "web"]


async def test_publishes_with_the_delivery_tag(
    script: YouTubePageScript, harness: Harness, tmp_path: Path
) -> None:
    harness.fake.web.configure(processing_ms=1500, overlay=True)
    the_job = job(harness, tmp_path)
    post = await script.upload(the_job)
    [video] = web_videos(harness)
    assert post.remote_id == video["id"]
    assert post.url == f"https://www.youtube.com/watch?v={video['id']}"
    snippet = video["snippet"]
    assert snippet["title"] == "Budget vote"  # the pre-filled file name was replaced
    assert snippet["description"] == "What happened today.\n\n#news"
    assert snippet["tags"] == [delivery_tag("idem-1")]
    assert video["_sha256"] == sha256(the_job.request.video.path)
    assert video["status"]["privacyStatus"] == "private"
    # the API layer's reconcile recognises the browser's video by its tag
    found = await harness.platform.reconcile(the_job.request, None, harness.context())
    assert found is not None and found.remote_id == post.remote_id


async def test_lost_confirmation_finds_the_video_once(
    script: YouTubePageScript, harness: Harness, tmp_path: Path
) -> None:
    harness.fake.web.configure(lose_confirmation=True)
    post = await script.upload(job(harness, tmp_path))
    [video] = web_videos(harness)
    assert post.remote_id == video["id"]


@pytest.mark.parametrize(
    ("mode", "error", "match"),
    [
        ("login_wall", SessionExpired, "browser login youtube --account newsroom"),
        ("captcha", Challenge, "captcha"),
        ("too_many", Challenge, "too many"),
        ("drop_upload", Transient, "youtube"),  # found mid-form or while waiting
    ],
)
async def test_blocked_or_broken(
    script: YouTubePageScript,
    harness: Harness,
    tmp_path: Path,
    mode: str,
    error: type[Exception],
    match: str,
) -> None:
    harness.fake.web.configure(**{mode: True})
    with pytest.raises(error, match=match):
        await script.upload(job(harness, tmp_path))
    assert any(p.suffix == ".png" for p in (tmp_path / "evidence").iterdir())
    assert web_videos(harness) == []
