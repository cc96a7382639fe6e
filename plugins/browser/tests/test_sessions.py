"""Sessions (profiles 0700, cookie import, status), the posting cap, and the page kit."""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner
from pellacia.contract import BrowserJob, MediaInfo, PublishRequest, RemotePost, RouteHandle
from pellacia.errors import Challenge, ConfigError, RateLimited
from pellacia_browser.launcher import BrowserSettings, launch_args, launch_browser
from pellacia_browser.pagekit import Blockers, Overlay, PageKit, SessionExpired, Target
from pellacia_browser.safety import BrowserCap
from pellacia_browser.sessions import Profiles, SessionInfo, read_cookies
from pellacia_browser.uploader import Attempt, PageScriptUploader

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None
)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
SECRET = "cookie-value-s3cret"

PAGE = """<!doctype html><title>kit</title>
<div id=blocker style="position:fixed;inset:0;background:#0008;z-index:9">
  <div role=dialog aria-label="Turn on automatic content checks">
    <button class=x9f onclick="document.getElementById('blocker').remove()">Cancel</button>
  </div></div>
<label for=t>Caption</label>
<div id=t class=ed-1a2 contenteditable=true role=textbox aria-label=Caption></div>
<span class=k3-post><button id=go disabled>Publish now</button></span>
<p id=model></p>
<script>
let model = "";
const ed = document.getElementById("t");
ed.addEventListener("beforeinput", e => {
  e.preventDefault();
  if (e.inputType === "insertText") model += e.data;
  else if (e.inputType.startsWith("delete")) model = "";
  ed.textContent = model;
  document.getElementById("model").textContent = model;
  document.getElementById("go").disabled = !model;
});
</script>"""


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[str]:
    async def page(request: web.Request) -> web.Response:
        body = PAGE if request.path != "/captcha" else "<p>Verify to continue</p>"
        return web.Response(text=body, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


def test_profiles_are_private_and_remember_facts(tmp_path: Path) -> None:
    profiles = Profiles(tmp_path / "profiles")
    path = profiles.path("tiktok", "news room")
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "profiles").stat().st_mode) == 0o700
    assert profiles.read("tiktok", "news room").logged_in is None
    at = datetime(2026, 11, 30, 12, tzinfo=UTC)
    profiles.note("tiktok", "news room", logged_in=True, used=True, post_at=at)
    info = profiles.read("tiktok", "news room")
    assert info.logged_in is True and info.last_used and info.last_checked
    assert info.post_times() == [at]
    assert [(i.platform, i.account) for i in profiles.all()] == [("tiktok", "news_room")]


def test_cookie_files_are_read(tmp_path: Path) -> None:
    txt = tmp_path / "cookies.txt"
    txt.write_text(
        "# Netscape HTTP Cookie File\n"
        f"#HttpOnly_.tiktok.com\tTRUE\t/\tTRUE\t1999999999\tsessionid\t{SECRET}\n"
        ".tiktok.com\tTRUE\t/\tFALSE\t0\ttt-target-idc\teu\n"
    )
    first, second = read_cookies(txt)
    assert first == {
        "name": "sessionid",
        "value": SECRET,
        "domain": ".tiktok.com",
        "path": "/",
        "secure": True,
        "httpOnly": True,
        "expires": 1999999999.0,
    }
    assert "expires" not in second and second["httpOnly"] is False
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"cookies": [{**first, "extra": 1}], "origins": []}))
    assert read_cookies(state) == [first]
    (tmp_path / "bad.txt").write_text("not a cookie line\n")
    with pytest.raises(ConfigError, match="Netscape"):
        read_cookies(tmp_path / "bad.txt")


def test_browser_cap() -> None:
    cap = BrowserCap(posts_per_day=2, min_spacing_s=600)
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    info = SessionInfo("tiktok", "a")
    assert cap.not_before(info, now) is None
    info.posts = [(now - timedelta(minutes=5)).isoformat()]
    assert cap.not_before(info, now) == now + timedelta(minutes=5)  # spacing
    info.posts = [(now - timedelta(hours=h)).isoformat() for h in (20, 2)]
    assert cap.not_before(info, now) == now + timedelta(hours=4)  # two in 24 h
    with pytest.raises(RateLimited, match="browser posting cap") as err:
        cap.check(info, now)
    assert err.value.reset_at == now + timedelta(hours=4)
    assert cap.configured({"posts_per_day": 5}).posts_per_day == 5
    assert "--force-webrtc-ip-handling-policy=disable_non_proxied_udp" in launch_args(proxied=True)
    assert "--force-webrtc-ip-handling-policy=disable_non_proxied_udp" not in launch_args()


BLOCKERS = Blockers(login_url=("/login",), captcha_text=("Verify to continue",))
CLOSE = Overlay(
    "content checks",
    Target("the checks dialog", role="dialog", name="Turn on automatic content checks"),
    Target("its Cancel button", role="button", name="Cancel", css="button.x9f"),
)
POST = Target("the Publish button", role="button", name="Post", css=".k3-post button")
EDITOR = Target("the caption", role="textbox", name="Caption", css="[contenteditable]")


@pytest.mark.browser
@needs_chromium
async def test_page_kit_on_a_real_page(site: str, tmp_path: Path) -> None:
    settings = BrowserSettings(chromium_path=CHROMIUM)
    async with launch_browser(settings) as browser:
        page = await browser.new_page()
        kit = PageKit(page, "example", timeout_s=3)
        await page.goto(site)
        await kit.check_blockers(BLOCKERS, "a")  # nothing blocks
        assert await kit.dismiss((CLOSE,)) == ["content checks"]
        assert await kit.dismiss((CLOSE,)) == []
        editor = await kit.find(EDITOR)
        await kit.type_into(editor, "Budget vote")
        assert await page.text_content("#model") == "Budget vote"  # the model saw real input
        button = await kit.wait_enabled(POST, timeout_s=3, while_="typing")  # the CSS fallback
        assert await button.text_content() == "Publish now"
        await page.goto(f"{site}/captcha")
        with pytest.raises(Challenge, match="captcha"):
            await kit.check_blockers(BLOCKERS, "a")
        await page.goto(f"{site}/login?next=/")
        with pytest.raises(SessionExpired, match="browser login example --account a"):
            await kit.check_blockers(BLOCKERS, "a")


class KitScript(PageScriptUploader):
    platform = "example"

    def __init__(self, site: str, settings: BrowserSettings) -> None:
        super().__init__(settings)
        self.site_url = site

    async def run(self, page: Any, job: BrowserJob, attempt: Attempt) -> RemotePost:
        kit = PageKit(page, self.platform, timeout_s=3)
        await page.goto(self.site_url + job.request.options.get("path", "/"))
        await kit.check_blockers(BLOCKERS, job.request.account)
        attempt.step("upload page loaded, signed in")
        await kit.dismiss((CLOSE,))
        await kit.type_into(await kit.find(EDITOR), job.request.title)
        button = await kit.wait_enabled(POST, timeout_s=3, while_="typing")
        attempt.submitted()
        await button.click()
        return RemotePost(remote_id="1")


def _job(tmp_path: Path, **options: str) -> BrowserJob:
    video = MediaInfo(tmp_path / "v.mp4", 1, "mp4", 1.0, 2, 2, "h264", None, None, 30.0)
    request = PublishRequest("d-1", "k", "example", "a", video, "Title", options=options)
    return BrowserJob(request, RouteHandle("direct"), tmp_path / "evidence")


@pytest.mark.browser
@needs_chromium
async def test_rehearsal_cap_and_challenge(site: str, tmp_path: Path) -> None:
    settings = BrowserSettings(chromium_path=CHROMIUM, profiles_dir=tmp_path / "p")
    script = KitScript(site, settings)
    steps = await script.rehearse(_job(tmp_path))
    assert steps == ["upload page loaded, signed in", "ready to publish (not clicked)"]
    profiles = Profiles(tmp_path / "p")
    assert profiles.read("example", "a").posts == []  # nothing was published
    assert (await script.upload(_job(tmp_path))).remote_id == "1"
    assert len(profiles.read("example", "a").posts) == 1
    with pytest.raises(RateLimited, match="browser posting cap"):
        await script.upload(_job(tmp_path))  # 30 min spacing by default
    with pytest.raises(Challenge, match="captcha"):
        await script.rehearse(_job(tmp_path, path="/captcha"))
    assert sorted(p.suffix for p in (tmp_path / "evidence").iterdir()) == [".html", ".png", ".txt"]
    with pytest.raises(SessionExpired):
        await script.rehearse(_job(tmp_path, path="/login"))
    assert profiles.read("example", "a").logged_in is False


@pytest.mark.browser
@needs_chromium
def test_login_import_and_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import click
    from pellacia.cli.context import AppContext
    from pellacia.plugins import install_commands, load_plugins

    monkeypatch.setenv("PELLACIA_LOAD_PLUGINS", "browser")
    monkeypatch.setenv("PELLACIA_STRICT_PLUGINS", "1")
    root = click.Group()
    root.add_command(click.Group("test"))  # core's self-checks group
    install_commands(load_plugins(include_defaults=False), root)
    assert "browser" in root.commands["test"].commands  # type: ignore[attr-defined]
    config = tmp_path / "config.toml"
    config.write_text(
        f'[plugins.browser]\nchromium_path = "{CHROMIUM}"\nprofiles_dir = "{tmp_path / "p"}"\n'
    )
    cookies = tmp_path / "cookies.txt"
    cookies.write_text(f"127.0.0.1\tFALSE\t/\tFALSE\t1999999999\tsessionid\t{SECRET}\n")
    obj = AppContext(config_file=config)
    runner = CliRunner()
    result = runner.invoke(
        root, ["browser", "login", "tiktok", "--account", "a", "--import", str(cookies)], obj=obj
    )
    assert result.exit_code == 0, result.output
    assert "1 cookies imported" in result.output and SECRET not in result.output
    result = runner.invoke(root, ["browser", "status"], obj=obj)
    assert result.exit_code == 0, result.output
    assert "tiktok/a: not checked; last used never" in result.output
    listed = json.loads(runner.invoke(root, ["browser", "status", "--json"], obj=obj).output)
    assert listed[0]["imported"] and SECRET not in json.dumps(listed)
