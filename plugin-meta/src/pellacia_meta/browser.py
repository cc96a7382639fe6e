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
``FacebookPageScript`` below drives a Page's reel composer.
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
    blockers = BLOCKERS
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


# ------------------------------------------------------------------ Facebook

FB_PROFILE = Target("the profile switcher", css='div[aria-label="Your profile"][role="button"]')
FB_ACTIVE = Target("the active profile", css='a[role="link"][href="/me/"]')
FB_SWITCHING = Target("the switching notice", css="#switching-info-container")
FB_FORM = Target("the Reels form", role="form", name="Reels")
FB_INPUT = Target("the reel's video input", css='input[type="file"][accept*="video/mp4"]')
FB_NEXT = Target("Next", role="button", name="Next", css='div[aria-label="Next"][role="button"]')
FB_CAPTION = Target("the caption", role="textbox", name="Describe your reel")
FB_POST = Target("Post", css='div[aria-label="Post"][role="button"]')
FB_LIVE = Target("the live toast", text="Your reel is live")
FB_OVERLAYS = (
    Overlay(
        "cookie dialog",
        Target("cookie dialog", role="dialog", name="Allow the use of cookies"),
        Target("decline", role="button", name="Decline optional cookies"),
    ),
)
FB_BLOCKERS = Blockers(
    login_url=("/login",),
    login_css=('[data-testid="royal_login_form"]',),
    captcha_text=("Confirm your identity", "Security check"),
    too_many_text=("You're Temporarily Blocked",),
)


class FacebookPageScript(PageScriptUploader):
    """Publishes one reel on a Page through Facebook's reel composer.

    Follows browser-flows.md §4: switch the profile to the Page first (the
    composer acts for the person until then; ``page_name`` in the platform's
    table picks the Page, else the first one listed), upload, Next twice, the
    caption with real key events, Post once processed, "Your reel is live". The
    reel's id is read from the Page's Reels tab by its caption (the composer
    shows no link), which also settles a lost confirmation.
    """

    platform = "facebook"
    blockers = FB_BLOCKERS
    site = "https://www.facebook.com"
    login_path = "/login/"
    cap = BrowserCap(posts_per_day=3, min_spacing_s=1800)

    async def run(self, page: Any, job: BrowserJob, attempt: Attempt) -> RemotePost:
        base, account = self.base_for(job), job.request.account
        kit = PageKit(
            page,
            self.platform,
            timeout_s=self.settings.timeout_ms / 1000,
            blockers=FB_BLOCKERS,
            account=account,
        )
        await page.goto(base + "/reels/create/")
        await kit.check_blockers(FB_BLOCKERS, account)
        attempt.step("reel composer loaded; the session is signed in")
        await kit.dismiss(FB_OVERLAYS)
        page_name = await self._switch_to_page(kit, job)
        attempt.step(f"acting as the Page {page_name}")
        kit.root = await kit.find(FB_FORM)
        await (await kit.attached(FB_INPUT)).set_input_files(str(job.request.video.path))
        attempt.step("video chosen")
        for _ in range(2):
            await (await kit.find(FB_NEXT)).click()
        caption = caption_of(job.request)
        await kit.type_into(await kit.find(FB_CAPTION), caption)
        attempt.step("caption typed")
        limit = float(job.settings.get("upload_timeout_s", 1200))
        post = await kit.wait_enabled(FB_POST, timeout_s=limit, while_="video processing")
        attempt.submitted()
        await post.click()
        kit.root = page
        return await self._confirmed(kit, base, caption, account)

    async def _switch_to_page(self, kit: PageKit, job: BrowserJob) -> str:
        await (await kit.find(FB_PROFILE)).click()
        wanted = job.settings.get("page_name")
        choices = kit.page.locator('[role="list"] div[role="button"][aria-label]')
        choice = choices.filter(has_text=str(wanted)) if wanted else choices
        name = await choice.first.get_attribute("aria-label") or ""
        await choice.first.click()
        active = await kit.find(FB_ACTIVE)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + kit.timeout_s
        while (await active.text_content() or "").strip() != name:
            if loop.time() >= deadline:
                raise Transient(f"Facebook: could not switch to the Page {name}")
            await asyncio.sleep(0.2)
        return name

    async def _confirmed(self, kit: PageKit, base: str, caption: str, account: str) -> RemotePost:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        while loop.time() < deadline:
            if await kit.find_optional(FB_LIVE, timeout_s=0) is not None:
                break
            if await kit.find_optional(ERROR, timeout_s=0) is not None:
                break  # never Post again: look on the Page's reels instead
            await asyncio.sleep(0.2)
        found = await self.find_post(kit, base, caption, account)
        if found is None:
            raise OutcomeUnknown(
                "Facebook: Post was clicked but the Page's reels do not show it (yet); "
                "check before posting again",
                platform=self.platform,
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
        """The newest reel with ``caption`` on the Page's Reels tab, or None."""
        page = kit.page
        await page.goto(base + "/reels/create/")
        await kit.check_blockers(FB_BLOCKERS, account)
        links = page.locator('[role="list"] div[role="button"] a[href]')
        href = await links.first.get_attribute("href") or ""  # the Page's own link
        await page.goto(f"{base}/{href.strip('/')}/reels")
        wanted = " ".join(caption.split())
        for reel in await page.locator(".reel").all():
            text = " ".join((await reel.locator(".caption").inner_text()).split())
            match = re.search(r"/reel/(\d+)", await reel.locator("a").get_attribute("href") or "")
            if match and text == wanted:
                video_id = match.group(1)
                url = f"https://www.facebook.com/reel/{video_id}"
                return RemotePost(remote_id=video_id, url=url, raw={"via": "web"})
        return None
