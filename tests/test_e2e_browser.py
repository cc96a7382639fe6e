"""The browser fallback end to end, as a user runs it against the sandbox: the
TikTok API answers 5xx, so `upload --test --wait` publishes through TikTok
Studio's web page in real headless Chromium: exactly one post, with its URL.
Also `test browser --sandbox` (walks the form, posts nothing) and a captcha
page (the delivery goes to the manual queue with the screenshot)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pellacia.testing.videos import make_video

CLI = str(Path(sys.executable).with_name("pellacia-dist"))
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (shutil.which("chromium") or Path("/usr/bin/chromium").is_file()),
        reason="Chromium is not installed",
    ),
]


@pytest.fixture(autouse=True)
def _no_fault_left_behind(sandbox: Any) -> Any:
    """These tests arm faults until removed on the session's sandbox: remove them,
    so the tests after these meet a healthy platform."""
    yield
    asyncio.run(sandbox.control.clear_faults())


def _env(sandbox: Any, pg_dsn: str, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}
    env.update(
        PELLACIA_DATABASE_URL=pg_dsn,
        PELLACIA_DATA_DIR=str(data),
        PELLACIA_SANDBOX_URL=sandbox.base_url,
        PELLACIA_RETRY__BASE_DELAY="0.05",
        PELLACIA_RETRY__MAX_DELAY="0.2",
    )
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=180)


#: per platform: the API path that fails, and the post's URL from its id
API: dict[str, tuple[str, Callable[[str], str]]] = {
    "tiktok": ("^/v2/post/", "https://www.tiktok.com/@sandbox-account/video/{}".format),
    "youtube": ("^/upload/youtube/", "https://www.youtube.com/watch?v={}".format),
    "twitter": ("^/2/(media|tweets)", "https://x.com/sandbox-account/status/{}".format),
    "linkedin": ("^/rest/(videos|posts)", "https://www.linkedin.com/feed/update/{}/".format),
    "instagram": (r"/media$", lambda i: f"https://www.instagram.com/reel/{i[-11:]}/"),
}
#: the `auth login` name of a platform, where it differs
LOGIN = {"instagram": "meta"}


def _signed_in(sandbox: Any, env: dict[str, str], tmp_path: Path, platform: str = "tiktok") -> None:
    """`auth login`, and the browser profile signed in to the fake's pages
    (`browser login --import state.json` with a session cookie of the fake)."""
    login = _cli(env, "auth", "login", LOGIN.get(platform, platform))
    assert login.returncode == 0, login.stdout + login.stderr
    cookie = sandbox.host.fake(platform).web.sessions.issue("sandbox-account")
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps(
            {
                "cookies": [
                    {"name": "sessionid", "value": cookie, "domain": "127.0.0.1", "path": "/"}
                ]
            }
        )
    )
    login = _cli(env, "browser", "login", platform, "--account", "default", "--import", str(state))
    assert login.returncode == 0, login.stdout + login.stderr
    assert cookie not in login.stdout + login.stderr


def _upload(
    env: dict[str, str], clip: Path, title: str, platform: str = "tiktok"
) -> subprocess.CompletedProcess[str]:
    argv = ["upload", "--platform", platform, "--file", str(clip), "--title", title]
    return _cli(env, *argv, "--test", "--wait", "--json")


@pytest.mark.parametrize("platform", sorted(API))
def test_api_failing_then_the_browser_publishes_once(
    sandbox: Any, pg_dsn: str, tmp_path: Path, platform: str
) -> None:
    env = _env(sandbox, pg_dsn, tmp_path / "data")
    asyncio.run(sandbox.control.reset(platform))
    _signed_in(sandbox, env, tmp_path, platform)
    failing, url = API[platform]
    asyncio.run(sandbox.control.add_fault(platform, "server_error", path=failing, times=None))
    clip = make_video(tmp_path / "clip.mp4", seconds=4.0, width=360, height=640, noise=True)
    upload = _upload(env, clip, "Budget vote", platform)
    assert upload.returncode == 0, upload.stdout + upload.stderr
    [delivery] = json.loads(upload.stdout)["deliveries"]
    state = asyncio.run(sandbox.control.state(platform))
    [post] = state["posts"]  # exactly one, made by the web page
    assert any("Budget vote" in str(post.get(k) or "") for k in ("title", "caption"))
    assert post["bytes"] == clip.stat().st_size
    assert delivery["state"] == "published"
    assert delivery["remote_url"] == url(post["id"])
    status = _cli(env, "browser", "status")
    assert f"{platform}/default: logged in" in status.stdout


def test_test_browser_walks_the_form_without_posting(
    sandbox: Any, pg_dsn: str, tmp_path: Path
) -> None:
    env = _env(sandbox, pg_dsn, tmp_path / "data")
    asyncio.run(sandbox.control.reset("tiktok"))
    _signed_in(sandbox, env, tmp_path)
    url = sandbox.base_url
    result = _cli(env, "test", "browser", "--platform", "tiktok", "--sandbox", url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS tiktok browser: upload page loaded; the session is signed in" in result.stdout
    assert "PASS tiktok browser: ready to publish (not clicked)" in result.stdout
    sandbox.host.fake("tiktok").web.configure(login_wall=True)
    signed_out = _cli(env, "test", "browser", "--platform", "tiktok", "--sandbox", url)
    assert signed_out.returncode == 1
    assert "FAIL tiktok browser" in signed_out.stdout
    assert "pellacia-dist browser login tiktok --account default" in signed_out.stdout
    assert asyncio.run(sandbox.control.state("tiktok"))["posts"] == []


def test_captcha_sends_the_delivery_to_the_manual_queue(
    sandbox: Any, pg_dsn: str, tmp_path: Path
) -> None:
    env = _env(sandbox, pg_dsn, tmp_path / "data")
    asyncio.run(sandbox.control.reset("tiktok"))
    _signed_in(sandbox, env, tmp_path)
    sandbox.host.fake("tiktok").web.configure(captcha=True)
    asyncio.run(sandbox.control.add_fault("tiktok", "server_error", path="^/v2/post/", times=None))
    clip = make_video(tmp_path / "clip.mp4", seconds=1.0, width=360, height=640)
    upload = _upload(env, clip, "Behind a captcha")
    [delivery] = json.loads(upload.stdout)["deliveries"]
    assert delivery["state"] == "manual", upload.stdout + upload.stderr
    assert asyncio.run(sandbox.control.state("tiktok"))["posts"] == []
    packages = list((tmp_path / "data").rglob("*.png"))
    assert packages, "the captcha screenshot is in the manual package"
    assert any("manual" in str(p) for p in packages)


def test_unknown_outcome_is_reconciled_on_the_page_then_posted_once(
    sandbox: Any, pg_dsn: str, tmp_path: Path
) -> None:
    """TikTok's init answer is lost and its video list fails, so the API layer
    cannot tell whether a post went out: the browser layer looks on Studio's post
    list first (instead of being skipped), finds none, and posts exactly once."""
    env = _env(sandbox, pg_dsn, tmp_path / "data")
    asyncio.run(sandbox.control.reset("tiktok"))
    _signed_in(sandbox, env, tmp_path)
    control = sandbox.control
    asyncio.run(control.add_fault("tiktok", "lose_response", path="^/v2/post/publish/video/init/"))
    asyncio.run(control.add_fault("tiktok", "server_error", path="^/v2/video/list/", times=None))
    clip = make_video(tmp_path / "clip.mp4", seconds=1.0, width=360, height=640)
    upload = _upload(env, clip, "Lost in init")
    assert upload.returncode == 0, upload.stdout + upload.stderr
    [delivery] = json.loads(upload.stdout)["deliveries"]
    assert delivery["state"] == "published", upload.stdout
    state = asyncio.run(control.state("tiktok"))
    [post] = state["posts"]  # the lost init never became a post; the web page made one
    assert post["publish_id"].startswith("v_web")
    assert delivery["remote_url"].endswith(f"/video/{post['id']}")
