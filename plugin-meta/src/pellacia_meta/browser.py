"""Instagram's web Create flow driven by Chromium: the browser layers' page script.

Installed with the ``browser`` extra (``pip install 'pellacia-dist-meta[browser]'``).
Follows browser-flows.md §3: the home page; the login form, a "Help us
confirm it's you" checkpoint or "Action blocked" is a ``Challenge``;
Create → Post; the dialog's hidden video input (not the nav's image input);
OK on the reels notice; Next through Crop and Edit (the visible one: a hidden
duplicate exists); the caption typed with real key events; Share once enabled;
"Your reel has been shared." Instagram shows no link there, so the post is
read from the profile grid (by its caption) and its media id from the reel
page's ``al:ios:url`` meta tag; the same look settles a lost confirmation.
Facebook Pages have no page script yet.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from pellacia.contract import BrowserJob, RemotePost
from pellacia.errors import OutcomeUnknown, Transient
from pellacia_browser.pagekit import Blockers, Overlay, PageKit, Target
from pellacia_browser.safety import BrowserCap
from pellacia_browser.uploader import Attempt, PageScriptUploader

from pellacia_meta.common import caption_of
from pellacia_meta.instagram import PLATFORM

_REEL = re.compile(r"/reel/([A-Za-z0-9_-]+)/")
_MEDIA_ID = re.compile(r"instagram://media\?id=(\d+)")

CREATE = Target("the Create link", role="link", name="Create")
NEW_POST = Target(
    "Post in the Create menu", role="link", name=re.compile(r"^Post$"), css="#create-post"
)
DIALOG = Target("the Create new post dialog", role="dialog", name="Create new post")
VIDEO_INPUT = Target("the video input", css='input[type="file"][accept*="video/mp4"]')
OK = Target("OK on the reels notice", role="button", name="OK")
NEXT = Target("Next", role="button", name="Next")
CAPTION = Target("the caption", role="textbox", name="Write a caption", css="[contenteditable]")
SHARE = Target("Share", role="button", name="Share")
SHARED = Target("the shared notice", text="Your reel has been shared.")
PROFILE = Target("the Profile link", role="link", name="Profile")
ERROR = Target("an error", text="Something went wrong")
OVERLAYS = (
    Overlay(
        "notifications prompt",
        Target("notifications prompt", role="dialog", name="Turn on notifications"),
        Target("Not Now", role="button", name="Not Now"),
    ),
)
BLOCKERS = Blockers(
    login_url=("/accounts/login",),
    login_css=("form#loginForm",),
    captcha_text=("Help us confirm it's you",),
    too_many_text=("Action blocked",),
)


class InstagramPageScript(PageScriptUploader):
    """Shares one reel through Instagram's web Create flow."""

    platform = PLATFORM
    site = "https://www.instagram.com"
    login_path = "/accounts/login/"
    #: the Graph API allows 50 a day; the browser stays far below
    cap = BrowserCap(posts_per_day=3, min_spacing_s=1800)

    async def run(self, page: Any, job: BrowserJob, attempt: Attempt) -> RemotePost:
        base, account = self.base_for(job), job.request.account
        kit = PageKit(
            page,
            self.platform,
            timeout_s=self.settings.timeout_ms / 1000,
            blockers=BLOCKERS,
            account=account,
        )
        await page.goto(base + "/")
        await kit.check_blockers(BLOCKERS, account)
        attempt.step("home loaded; the session is signed in")
        await (await kit.find(CREATE)).click()
        await (await kit.find(NEW_POST)).click()
        await kit.dismiss(OVERLAYS)
        kit.root = await kit.find(DIALOG)
        await (await kit.attached(VIDEO_INPUT)).set_input_files(str(job.request.video.path))
        attempt.step("video chosen")
        await (await kit.find(OK)).click()
        for _ in range(2):  # Crop, Edit
            await (await kit.find(NEXT)).click()
        caption = caption_of(job.request)
        await kit.type_into(await kit.find(CAPTION), caption)
        attempt.step("caption typed")
        share = await self._wait_share(kit, job)
        attempt.step("video processed; Share enabled")
        attempt.submitted()
        await share.click()
        kit.root = page
        return await self._confirmed(kit, base, caption, account)

    async def _wait_share(self, kit: PageKit, job: BrowserJob) -> Any:
        limit = float(job.settings.get("upload_timeout_s", 1200))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while True:
            await kit.check_blockers(BLOCKERS, job.request.account)
            if await kit.page.get_by_text("Upload failed").count():
                raise Transient("Instagram: the upload broke off (network)", platform=PLATFORM)
            button = await kit.find_optional(SHARE, timeout_s=0)
            if button is not None and await button.get_attribute("aria-disabled") != "true":
                return button
            if loop.time() >= deadline:
                raise Transient(f"Instagram: video not processed after {limit:.0f} s")
            await asyncio.sleep(0.2)

    async def _confirmed(self, kit: PageKit, base: str, caption: str, account: str) -> RemotePost:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        while loop.time() < deadline:
            if await kit.find_optional(SHARED, timeout_s=0) is not None:
                break
            if await kit.find_optional(ERROR, timeout_s=0) is not None:
                break  # never Share again: look on the profile instead
            await asyncio.sleep(0.2)
        found = await self.find_post(kit, base, caption, account)
        if found is None:
            raise OutcomeUnknown(
                "Instagram: Share was clicked but the profile does not show the reel "
                "(yet); check before posting again",
                platform=PLATFORM,
            )
        return found

    async def find(self, page: Any, job: BrowserJob) -> RemotePost | None:
        kit = PageKit(page, self.platform, timeout_s=self.settings.timeout_ms / 1000)
        return await self.find_post(
            kit, self.base_for(job), caption_of(job.request), job.request.account
        )

    async def find_post(
        self, kit: PageKit, base: str, caption: str, account: str
    ) -> RemotePost | None:
        """The newest reel with ``caption`` in the profile grid, with its media id."""
        page = kit.page
        await page.goto(base + "/")
        await kit.check_blockers(BLOCKERS, account)
        handle = (await (await kit.find(PROFILE)).get_attribute("href") or "").strip("/")
        await page.goto(f"{base}/{handle}/")
        wanted = " ".join(caption.split())
        for link in await page.locator('main[role="main"] a[href*="/reel/"]').all():
            alt = await link.locator("img").get_attribute("alt") or ""
            match = _REEL.search(await link.get_attribute("href") or "")
            if match and " ".join(alt.split()) == wanted:
                code = match.group(1)
                await page.goto(f"{base}/reel/{code}/")
                meta = page.locator('meta[property="al:ios:url"]')
                media = _MEDIA_ID.search(await meta.get_attribute("content") or "")
                if media is None:
                    raise OutcomeUnknown(f"Instagram: reel {code} shows no media id")
                url = f"https://www.instagram.com/reel/{code}/"
                return RemotePost(remote_id=media.group(1), url=url, raw={"via": "web"})
        return None
