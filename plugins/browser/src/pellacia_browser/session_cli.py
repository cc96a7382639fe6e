"""``browser login``, ``browser status`` and ``test browser``: sessions and rehearsals."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from pellacia.cli.context import CommandContext

    from pellacia_browser.launcher import BrowserSettings
    from pellacia_browser.uploader import PageScriptUploader


def add_session_commands(browser: click.Group, context: CommandContext) -> None:
    """``login`` and ``status`` under the ``browser`` group."""

    @browser.command("login")
    @click.argument("platform")
    @click.option("--account", default="default", show_default=True)
    @click.option(
        "--import",
        "import_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="cookies.txt (Netscape) or a Playwright state.json instead of a headed login.",
    )
    def login(platform: str, account: str, import_file: Path | None) -> None:
        """Sign PLATFORM's browser profile of ACCOUNT in, once (a headed Chromium)."""
        from pellacia.cli.context import fail
        from pellacia.errors import PellaciaError

        settings = _settings(context)
        try:
            if import_file is not None:
                count = asyncio.run(_import(settings, platform, account, import_file))
                click.echo(f"{platform}/{account}: {count} cookies imported into the profile")
                return
            url = _login_url(context, platform)
            click.echo(f"Sign in to {platform} as {account} in the window, then close it.")
            asyncio.run(_headed_login(settings, platform, account, url))
        except PellaciaError as exc:
            fail(str(exc))
        click.echo(f"{platform}/{account}: profile saved")

    @browser.command("status")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    def status(as_json: bool) -> None:
        """Per profile: logged in at the last check, last used, last checked."""
        from dataclasses import asdict

        from pellacia.cli.context import emit_json

        from pellacia_browser.sessions import Profiles

        infos = list(Profiles(_settings(context).profile_root()).all())
        if as_json:
            emit_json([{k: v for k, v in asdict(i).items() if k != "posts"} for i in infos])
            return
        if not infos:
            click.echo("no browser profiles yet: pellacia-dist browser login PLATFORM --account A")
        for i in infos:
            state = {True: "logged in", False: "SIGNED OUT", None: "not checked"}[i.logged_in]
            click.echo(
                f"{i.platform}/{i.account}: {state}; last used {i.last_used or 'never'}; "
                f"last checked {i.last_checked or 'never'}"
            )


def test_browser_command(context: CommandContext) -> click.Command:
    """``test browser``: walk the upload form up to, not including, publishing."""

    @click.command("browser")
    @click.option("--platform", required=True)
    @click.option("--account", default="default", show_default=True)
    @click.option("--sandbox", "sandbox", default=None, help="Run against this sandbox's page.")
    def test_browser(platform: str, account: str, sandbox: str | None) -> None:
        """Launch Chromium, load PLATFORM's upload page, check the session, fill the
        form and stop before the publishing click; prints each step (PASS/FAIL)."""
        from pellacia.cli.test_cmd import Step, report
        from pellacia.errors import PellaciaError

        uploader = _uploader(context, platform)
        attempt_steps: list[str] = []
        try:
            attempt_steps = asyncio.run(_rehearse(context, uploader, account, sandbox))
        except PellaciaError as exc:
            report([Step(f"{platform} browser", False, str(exc))])
        steps = [Step(f"{platform} browser", True, done) for done in attempt_steps]
        steps.append(
            Step(f"{platform} browser", True, f"can publish as {account} (nothing posted)")
        )
        report(steps)

    return test_browser


# ------------------------------------------------------------------ helpers


def _settings(context: CommandContext) -> BrowserSettings:
    from pellacia_browser.launcher import BrowserSettings

    settings = BrowserSettings.from_section(context.settings)
    if settings.profiles_dir is None:
        root = context.config.data_dir / "browser" / "profiles"
        settings = BrowserSettings.from_section({**context.settings, "profiles_dir": str(root)})
    return settings


def _uploader(context: CommandContext, platform: str) -> PageScriptUploader:
    from pellacia.cli.context import fail
    from pellacia.plugins import get_registry

    from pellacia_browser.uploader import PageScriptUploader

    found = get_registry(context.config.plugins).browser_uploaders.get(platform) or []
    scripts = [u for u in found if isinstance(u, PageScriptUploader)]
    if not scripts:
        fail(
            f"no page script for {platform}: install its browser extra "
            f"(pip install 'pellacia-dist-{platform}[browser]')"
        )
    script = scripts[0]
    script._settings = _settings(context)
    return script


def _login_url(context: CommandContext, platform: str) -> str:
    script = _uploader(context, platform)
    return script.login_url(_base(context, script, None))


def _base(context: CommandContext, script: PageScriptUploader, sandbox: str | None) -> str:
    section = context.config.plugins.get(script.platform, {})
    return script.site_base(section, sandbox or context.sandbox_url)


async def _import(settings: BrowserSettings, platform: str, account: str, path: Path) -> int:
    from pellacia_browser.sessions import import_cookies, read_cookies

    cookies = read_cookies(path)
    await import_cookies(settings, platform, account, cookies)
    return len(cookies)


async def _headed_login(settings: BrowserSettings, platform: str, account: str, url: str) -> None:
    from dataclasses import replace

    from pellacia_browser.launcher import launch_browser
    from pellacia_browser.sessions import Profiles

    headed = replace(settings, headless=False)
    async with launch_browser(headed, profile=(platform, account)) as browser:
        page = await browser.new_page()
        await page.goto(url)
        closed = asyncio.Event()
        browser.context.on("close", lambda _: closed.set())
        page.on("close", lambda _: closed.set())
        await closed.wait()
    Profiles(settings.profile_root()).note(platform, account, imported=True)


async def _rehearse(
    context: CommandContext, script: PageScriptUploader, account: str, sandbox: str | None
) -> list[str]:
    from pellacia.contract import BrowserJob, PublishRequest, RouteHandle
    from pellacia.media import probe
    from pellacia.testing.videos import make_video

    section: dict[str, Any] = dict(context.config.plugins.get(script.platform, {}))
    with tempfile.TemporaryDirectory() as tmp:
        clip = await asyncio.to_thread(make_video, Path(tmp) / "pellacia-test.mp4", seconds=1.0)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        request = PublishRequest(
            delivery_id=f"test-browser-{stamp}",
            idempotency_key=f"test-browser-{stamp}",
            platform=script.platform,
            account=account,
            video=await asyncio.to_thread(probe, clip),
            title="pellacia-dist browser test (not published)",
        )
        job = BrowserJob(
            request=request,
            route=RouteHandle(name="direct"),
            artifacts_dir=context.config.data_dir / "artifacts" / request.delivery_id,
            settings=section,
            sandbox_url=sandbox or context.sandbox_url,
        )
        return await script.rehearse(job)
