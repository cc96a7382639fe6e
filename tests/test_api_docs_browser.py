"""The API's docs pages render in real headless Chromium with every request kept on
the server itself: the Swagger UI and ReDoc assets come from an installed package."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pellacia.testing.api import api_settings, live_api
from pellacia_testplatform.fake import FakeTestPlatform

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None
)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed"),
]


async def test_docs_render_offline(
    pg_dsn: str, testplatform: FakeTestPlatform, tmp_path: Path
) -> None:
    from pellacia_browser.launcher import launch_args
    from playwright.async_api import Route, async_playwright

    elsewhere: list[str] = []
    with live_api(api_settings(testplatform, tmp_path, pg_dsn)) as api:

        async def only_the_server(route: Route) -> None:
            if route.request.url.startswith(api.url):
                await route.continue_()
            else:  # a CDN would be asked here: refuse, and remember
                elsewhere.append(route.request.url)
                await route.abort()

        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=launch_args())
            try:
                page = await browser.new_page()
                await page.route("**/*", only_the_server)
                await page.goto(f"{api.url}/docs")
                await page.wait_for_selector(".opblock-summary-path", timeout=30_000)
                paths = await page.locator(".opblock-summary-path").all_inner_texts()
                await page.goto(f"{api.url}/redoc")
                await page.wait_for_selector("[data-section-id]", timeout=30_000)
                redoc = await page.inner_text("body")
            finally:
                await browser.close()
    assert any("/v1/posts" in p for p in paths) and any("/v1/queue" in p for p in paths)
    assert "Create Post" in redoc and "X-API-Key" in redoc
    assert elsewhere == []
