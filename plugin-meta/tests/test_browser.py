"""Instagram's Create-flow page script in real headless Chromium against the fake pages."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest
from pellacia.contract import BrowserJob, MediaInfo, RouteHandle
from pellacia.errors import Challenge, Transient
from pellacia.testing.sandbox import SandboxHandle
from pellacia_browser.launcher import BrowserSettings
from pellacia_browser.pagekit import SessionExpired
from pellacia_browser.sessions import import_cookies
from pellacia_meta.browser import InstagramPageScript

from .conftest import request_for

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None
)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed"),
]


def web(meta: SandboxHandle) -> Any:
    return meta.host.fake("instagram").web


@pytest.fixture
async def script(tmp_path: Path, meta: SandboxHandle) -> InstagramPageScript:
    settings = BrowserSettings(
        chromium_path=CHROMIUM, profiles_dir=tmp_path / "profiles", timeout_ms=5000
    )
    value = web(meta).sessions.issue("sandbox-account")
    cookie = {"name": "sessionid", "value": value, "domain": "127.0.0.1", "path": "/"}
    account = request_for("instagram", _video(tmp_path)).account
    await import_cookies(settings, "instagram", account, [cookie])
    return InstagramPageScript(settings)


def _video(tmp_path: Path) -> MediaInfo:
    clip = tmp_path / "reel.mp4"
    clip.write_bytes(b"\0" * 200_000)
    return MediaInfo(clip, 200_000, "mp4", 4.0, 540, 960, "h264", None, None, 30.0)


def job(meta: SandboxHandle, tmp_path: Path, title: str = "Flood") -> BrowserJob:
    return BrowserJob(
        request=request_for("instagram", _video(tmp_path), title=title),
        route=RouteHandle("direct"),
        artifacts_dir=tmp_path / "evidence",
        settings={"upload_timeout_s": 30},
        sandbox_url=meta.base_url,
    )


async def _posts(meta: SandboxHandle) -> list[dict[str, Any]]:
    return list((await meta.control.state("instagram"))["posts"])


async def test_shares_a_reel_and_reads_its_media_id(
    script: InstagramPageScript, meta: SandboxHandle, tmp_path: Path
) -> None:
    web(meta).configure(overlay=True, processing_ms=1200)
    the_job = job(meta, tmp_path)
    post = await script.upload(the_job)
    [made] = await _posts(meta)
    assert post.remote_id == made["id"]
    assert made["sha256"] == hashlib.sha256(b"\0" * 200_000).hexdigest()
    assert post.url == f"https://www.instagram.com/reel/{made['id'][-11:]}/"
    from pellacia_meta.common import caption_of

    assert made["caption"] == caption_of(the_job.request)


async def test_lost_confirmation_finds_the_reel_once(
    script: InstagramPageScript, meta: SandboxHandle, tmp_path: Path
) -> None:
    web(meta).configure(lose_confirmation=True)
    post = await script.upload(job(meta, tmp_path))
    [made] = await _posts(meta)
    assert post.remote_id == made["id"]


@pytest.mark.parametrize(
    ("mode", "error", "match"),
    [
        ("login_wall", SessionExpired, "browser login instagram"),
        ("captcha", Challenge, "captcha"),
        ("too_many", Challenge, "too many"),
        ("drop_upload", Transient, "instagram"),
    ],
)
async def test_blocked_or_broken(
    script: InstagramPageScript,
    meta: SandboxHandle,
    tmp_path: Path,
    mode: str,
    error: type[Exception],
    match: str,
) -> None:
    web(meta).configure(**{mode: True})
    with pytest.raises(error, match=match):
        await script.upload(job(meta, tmp_path))
    assert any(p.suffix == ".png" for p in (tmp_path / "evidence").iterdir())
    assert await _posts(meta) == []


# ------------------------------------------------------------------ Facebook


@pytest.fixture
async def fb_script(tmp_path: Path, meta: SandboxHandle) -> Any:
    from pellacia_meta.browser import FacebookPageScript

    settings = BrowserSettings(
        chromium_path=CHROMIUM, profiles_dir=tmp_path / "profiles", timeout_ms=5000
    )
    value = meta.host.fake("facebook").web.sessions.issue("sandbox-account")
    cookie = {"name": "sessionid", "value": value, "domain": "127.0.0.1", "path": "/"}
    await import_cookies(settings, "facebook", "sandbox-account", [cookie])
    return FacebookPageScript(settings)


def fb_job(meta: SandboxHandle, tmp_path: Path) -> BrowserJob:
    return BrowserJob(
        request=request_for("facebook", _video(tmp_path)),
        route=RouteHandle("direct"),
        artifacts_dir=tmp_path / "evidence",
        settings={"upload_timeout_s": 30},
        sandbox_url=meta.base_url,
    )


@pytest.mark.parametrize("lose", [False, True])
async def test_facebook_reel_as_the_page(
    fb_script: Any, meta: SandboxHandle, tmp_path: Path, lose: bool
) -> None:
    meta.host.fake("facebook").web.configure(overlay=True, lose_confirmation=lose)
    the_job = fb_job(meta, tmp_path)
    post = await fb_script.upload(the_job)
    [made] = (await meta.control.state("facebook"))["posts"]  # once, even when the answer is lost
    assert post.remote_id == made["id"] and made["kind"] == "reel"
    assert made["sha256"] == hashlib.sha256(b"\0" * 200_000).hexdigest()
    assert post.url == f"https://www.facebook.com/reel/{made['id']}"


@pytest.mark.parametrize(
    ("mode", "error"),
    [("login_wall", SessionExpired), ("captcha", Challenge), ("too_many", Challenge)],
)
async def test_facebook_blocked(
    fb_script: Any, meta: SandboxHandle, tmp_path: Path, mode: str, error: type[Exception]
) -> None:
    meta.host.fake("facebook").web.configure(**{mode: True})
    with pytest.raises(error):
        await fb_script.upload(fb_job(meta, tmp_path))
    assert (await meta.control.state("facebook"))["posts"] == []
