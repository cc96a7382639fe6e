"""``pellacia-dist browser check``: can this machine drive Chromium?"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from pellacia.cli.context import CommandContext

    from pellacia_browser.launcher import BrowserSettings

_PAGE = (
    "<!doctype html><title>pellacia-dist browser check</title>"
    "<h1 id=ok>Chromium works</h1><script>document.title += ' (js ok)'</script>"
)


def browser_commands(context: CommandContext) -> click.Group:
    """The ``browser`` group; its commands read ``[plugins.browser]`` from ``context``."""

    @click.group()
    def browser() -> None:
        """The browser-automation fallback (Playwright with the system's Chromium)."""

    @browser.command("check")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    def check(as_json: bool) -> None:
        """Launch Chromium, load a page served on 127.0.0.1 and print the version."""
        import asyncio

        from pellacia.cli.context import emit_json, fail
        from pellacia.errors import PellaciaError

        from pellacia_browser.launcher import BrowserSettings

        try:
            result = asyncio.run(_probe(BrowserSettings.from_section(context.settings)))
        except PellaciaError as exc:
            fail(str(exc))
            return
        if as_json:
            emit_json(result)
            return
        click.echo(f"Chromium {result['version']} ({result['executable']})")
        click.echo(f"page loaded from {result['url']}: {result['title']!r}")
        click.echo(click.style("ok", fg="green") + ": the browser layers can run on this machine")

    return browser


async def _probe(settings: BrowserSettings) -> dict[str, str]:
    from aiohttp import web

    from pellacia_browser.launcher import launch_browser

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=_PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}/"
    try:
        async with launch_browser(settings) as session:
            tab = await session.new_page()
            await tab.goto(url)
            heading = await tab.text_content("#ok")
            title = await tab.title()
            if heading != "Chromium works":
                from pellacia.errors import Transient

                raise Transient(f"the test page did not render (heading {heading!r})")
            return {
                "version": session.version,
                "executable": session.executable,
                "url": url,
                "title": title,
            }
    finally:
        await runner.cleanup()
