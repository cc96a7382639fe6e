"""The Playwright foundation, driving the real system Chromium."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from click.testing import CliRunner
from pellacia.contract import BrowserJob, MediaInfo, PublishRequest, RemotePost, RouteHandle
from pellacia.errors import ConfigError, OutcomeUnknown, Transient, Unsupported
from pellacia_browser.launcher import (
    BrowserSettings,
    launch_args,
    launch_browser,
    playwright_proxy,
    profile_dir,
)
from pellacia_browser.uploader import Attempt, PageScriptUploader

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"
)
PASSWORD = "browser-proxy-s3cret"


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[str]:
    """The "upload page" the browser visits."""

    async def index(_: web.Request) -> web.Response:
        return web.Response(
            text="<!doctype html><title>Upload</title><h1 id=h>Upload a video</h1>"
            "<button id=post>Post</button>",
            content_type="text/html",
        )

    app = web.Application()
    app.router.add_get("/{tail:.*}", index)
    runner, port = await _serve(app)
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def test_flags_and_proxy_option() -> None:
    args = launch_args()
    for flag in ("--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync"):
        assert flag in args
    assert ("--no-sandbox" in args) == (os.geteuid() == 0)  # Chromium needs it only as root
    option = playwright_proxy(f"http://bob:{PASSWORD}@127.0.0.1:3128")
    assert option == {"server": "http://127.0.0.1:3128", "username": "bob", "password": PASSWORD}
    with pytest.raises(Unsupported, match="SOCKS"):
        playwright_proxy("socks5://bob:pw@127.0.0.1:1080")
    assert playwright_proxy(None) is None
    assert profile_dir(Path("/p"), "tik/tok", "../acc") == Path("/p/tik_tok/acc")


async def test_missing_chromium_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        async with launch_browser({"chromium_path": "/nonexistent/chromium"}):
            pass


@pytest.mark.browser
@needs_chromium
async def test_page_through_the_route_proxy(site: str) -> None:
    """Chromium sends its requests through the route's proxy, with its credentials."""
    seen: list[str] = []
    expected = "Basic " + base64.b64encode(f"bob:{PASSWORD}".encode()).decode()
    upstream = aiohttp.ClientSession()

    async def forward(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Proxy-Authorization") != expected:
            return web.Response(status=407, headers={"Proxy-Authenticate": 'Basic realm="p"'})
        seen.append(str(request.url))
        async with upstream.get(str(request.url)) as resp:
            return web.Response(body=await resp.read(), content_type=resp.content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner, port = await _serve(app)
    try:
        async with launch_browser(
            {"chromium_path": CHROMIUM},
            proxy=f"http://bob:{PASSWORD}@127.0.0.1:{port}",
            proxy_bypass="<-loopback>",
        ) as browser:
            page = await browser.new_page()
            await page.goto(f"{site}/through-proxy")
            assert await page.text_content("#h") == "Upload a video"
    finally:
        await runner.cleanup()
        await upstream.close()
    assert f"{site}/through-proxy" in seen


@pytest.mark.browser
@needs_chromium
async def test_profile_survives_a_restart(site: str, tmp_path: Path) -> None:
    settings = BrowserSettings(chromium_path=CHROMIUM, profiles_dir=tmp_path / "profiles")
    async with launch_browser(settings, profile=("example", "newsroom")) as browser:
        assert browser.profile_dir == tmp_path / "profiles" / "example" / "newsroom"
        page = await browser.new_page()
        await page.goto(site)
        await page.evaluate("localStorage.setItem('session', 'signed-in')")
    async with launch_browser(settings, profile=("example", "newsroom")) as browser:
        page = await browser.new_page()
        await page.goto(site)
        assert await page.evaluate("localStorage.getItem('session')") == "signed-in"
    async with launch_browser(settings, profile=("example", "other")) as browser:
        page = await browser.new_page()
        await page.goto(site)
        assert await page.evaluate("localStorage.getItem('session')") is None


class ClickingUploader(PageScriptUploader):
    platform = "example"

    def __init__(self, site: str, settings: BrowserSettings, *, submit: bool) -> None:
        super().__init__(settings)
        self.site = site
        self.submit = submit

    async def run(self, page: Any, job: BrowserJob, attempt: Attempt) -> RemotePost:
        await page.goto(f"{self.site}/upload")
        if self.submit:
            attempt.submitted()
            await page.click("#post")
        await page.click("#no-such-button", timeout=300)  # the page changed: fails
        return RemotePost(remote_id="never")


def job(tmp_path: Path) -> BrowserJob:
    video = MediaInfo(tmp_path / "v.mp4", 1, "mp4", 1.0, 2, 2, "h264", None, None, 30.0)
    request = PublishRequest(
        delivery_id="d-7",
        idempotency_key="k",
        platform="example",
        account="a",
        video=video,
        title="t",
    )
    return BrowserJob(
        request=request, route=RouteHandle(name="direct"), artifacts_dir=tmp_path / "evidence"
    )


@pytest.mark.browser
@needs_chromium
@pytest.mark.parametrize("submit", [False, True])
async def test_failure_leaves_a_screenshot(site: str, tmp_path: Path, submit: bool) -> None:
    settings = BrowserSettings(chromium_path=CHROMIUM, profiles_dir=tmp_path / "profiles")
    uploader = ClickingUploader(site, settings, submit=submit)
    expected = OutcomeUnknown if submit else Transient
    with pytest.raises(expected) as err:
        await uploader.upload(job(tmp_path))
    assert "example upload page failed" in str(err.value)
    evidence = sorted((tmp_path / "evidence").iterdir())
    assert [p.suffix for p in evidence] == [".html", ".png", ".txt"]
    assert all(p.name.startswith("d-7-") for p in evidence)
    assert evidence[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Upload a video" in evidence[0].read_text()
    assert f"{site}/upload" in evidence[2].read_text()


@pytest.mark.browser
@needs_chromium
def test_browser_check_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import click
    from pellacia.cli.context import AppContext
    from pellacia.plugins import install_commands, load_plugins

    monkeypatch.setenv("PELLACIA_LOAD_PLUGINS", "browser")
    monkeypatch.setenv("PELLACIA_STRICT_PLUGINS", "1")
    root = click.Group()
    install_commands(load_plugins(include_defaults=False), root)
    assert "browser" in root.commands  # the plugin adds the command through its hook

    config = tmp_path / "config.toml"
    config.write_text(f'[plugins.browser]\nchromium_path = "{CHROMIUM}"\n')
    result = CliRunner().invoke(root, ["browser", "check"], obj=AppContext(config_file=config))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Chromium ")
    assert "page loaded from http://127.0.0.1:" in result.output
    assert "'pellacia-dist browser check (js ok)'" in result.output
