"""TikTok Studio's web uploader driven by Chromium: the browser layers' page script.

Installed with the ``browser`` extra (``pip install 'pellacia-dist-tiktok[browser]'``).
Follows browser-flows.md §1: load ``/tiktokstudio/upload``; a login wall,
captcha or "too many uploading attempts" is a ``Challenge``; dismiss the known
overlays; set the hidden ``input[accept="video/*"]`` (not the cover picker's);
wait for the upload's check mark; type the caption with real key events
(clearing the file name TikTok pre-fills); wait for Post to be enabled; click;
the confirmation is the move to ``/tiktokstudio/content``, whose first row
links ``/@user/video/<id>``. When the confirmation does not come, the content
page is searched for the caption (the delivery's marker) before anything
else happens: found, it is the post; not found, ``OutcomeUnknown``.
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

from pellacia_tiktok.client import PLATFORM
from pellacia_tiktok.platform import caption_of

UPLOAD_PATH = "/tiktokstudio/upload?from=upload&lang=en"
CONTENT_PATH = "/tiktokstudio/content"
_VIDEO_HREF = re.compile(r"/@([^/]+)/video/(\d+)")

# The page's elements, most stable lookup first; the CSS fallbacks are the
# selectors tools in the wild use today (browser-flows.md §1, dated there).
VIDEO_INPUT = Target("the video file input", css='input[type="file"][accept="video/*"]')
UPLOADED = Target(
    "the upload's check mark", css='.info-body .info-main span[data-icon="CheckCircleFill"]'
)
UPLOAD_FAILED = Target(
    "the upload's retry button", role="button", name="Select file", css='[aria-label="Select file"]'
)
CAPTION = Target(
    "the caption editor", role="textbox", css="div.public-DraftEditor-content[contenteditable]"
)
POST = Target(
    "the Post button", role="button", name="Post", css='button[data-e2e="post_video_button"]'
)
POST_ROW_LINK = Target(
    "the newest post's link",
    css='div[data-tt="components_PostTable_Container"] '
    'div[data-tt="components_PostInfoCell_Container"] a',
)
OVERLAYS: tuple[Overlay, ...] = (
    Overlay(
        "automatic content checks",
        Target("content checks dialog", role="dialog", name="Turn on automatic content checks"),
        Target(
            "its Cancel button", role="button", name="Cancel", css=".common-modal-footer button"
        ),
    ),
    Overlay(
        "cookie banner",
        Target("cookie banner", css="tiktok-cookie-banner"),
        Target(
            "decline cookies",
            role="button",
            name="Decline optional cookies",
            css="tiktok-cookie-banner div.button-wrapper button",
        ),
    ),
    Overlay(
        "split into parts",
        Target("split prompt", text="Split into multiple parts?"),
        Target("its Not now button", role="button", name="Not now"),
    ),
    Overlay(
        "tutorial",
        Target("tutorial", role="button", name="Got it"),
        Target("its Got it button", role="button", name="Got it"),
    ),
)
BLOCKERS = Blockers(
    login_url=("/login",),
    login_css=('select[class*="SelectFormContainer"]',),
    captcha_css=("#captcha-verify-image", "#captcha-verify-container"),
    captcha_text=("Drag the slider to fit the puzzle",),
    too_many_text=("Too many uploading attempts",),
)
ERROR_TOAST = "Something went wrong"


class TikTokPageScript(PageScriptUploader):
    """Publishes one video through TikTok Studio's upload page."""

    platform = PLATFORM
    blockers = BLOCKERS
    site = "https://www.tiktok.com"
    #: TikTok's API cap is ~15 a day; the browser stays far below it
    cap = BrowserCap(posts_per_day=3, min_spacing_s=1800)

    async def run(self, page: Any, job: BrowserJob, attempt: Attempt) -> RemotePost:
        kit = PageKit(page, self.platform, timeout_s=self.settings.timeout_ms / 1000)
        base, account = self.base_for(job), job.request.account
        await page.goto(base + UPLOAD_PATH)
        await kit.check_blockers(BLOCKERS, account)
        attempt.step("upload page loaded; the session is signed in")
        await (await kit.attached(VIDEO_INPUT)).set_input_files(str(job.request.video.path))
        attempt.step("video chosen")
        await self._wait_uploaded(kit, job, account)
        attempt.step("video uploaded and processed")
        closed = await kit.dismiss(OVERLAYS)
        if closed:
            attempt.step(f"dismissed: {', '.join(closed)}")
        caption = caption_of(job.request)
        await kit.type_into(await kit.find(CAPTION), caption)
        attempt.step("caption typed")
        await kit.dismiss(OVERLAYS)
        button = await kit.wait_enabled(POST, timeout_s=60, while_="caption set, upload done")
        attempt.step("Post button enabled")
        attempt.submitted()
        await button.click()
        return await self._confirmed(kit, base, caption, account)

    async def _wait_uploaded(self, kit: PageKit, job: BrowserJob, account: str) -> None:
        """Until the check mark shows; a failed upload is ``Transient``, a rate notice a
        ``Challenge``; the time limit is ``upload_timeout_s`` (default 20 min)."""
        limit = float(job.settings.get("upload_timeout_s", 1200))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while await kit.find_optional(UPLOADED, timeout_s=0) is None:
            await kit.check_blockers(BLOCKERS, account)
            if await kit.find_optional(UPLOAD_FAILED, timeout_s=0) is not None:
                raise Transient("TikTok: the upload broke off (network)", platform=PLATFORM)
            if loop.time() >= deadline:
                raise Transient(f"TikTok: upload not processed after {limit:.0f} s")
            await asyncio.sleep(0.2)

    async def _confirmed(self, kit: PageKit, base: str, caption: str, account: str) -> RemotePost:
        """The post after the click: from the content page TikTok moves to, or,
        when the confirmation is lost, found there by its caption."""
        page, loop = kit.page, asyncio.get_running_loop()
        deadline = loop.time() + 60
        while CONTENT_PATH not in page.url:
            if await kit.find_optional(Target("error", text=ERROR_TOAST), timeout_s=0):
                break  # the answer was lost: never click Post again, look instead
            if loop.time() >= deadline:
                break
            await asyncio.sleep(0.2)
        found = await self.find_post(kit, base, caption, account)
        if found is None:
            raise OutcomeUnknown(
                "TikTok: Post was clicked but no confirmation came and the content page "
                "does not show the video (yet); check before posting again",
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
        """The newest post on the account's content page with ``caption``, or None."""
        page = kit.page
        if CONTENT_PATH not in page.url:
            await page.goto(base + CONTENT_PATH)
        await kit.check_blockers(BLOCKERS, account)
        wanted = " ".join(caption.split())  # the page collapses white space
        for link in await kit.root.locator(POST_ROW_LINK.css).all():
            text = " ".join((await link.inner_text()).split())
            match = _VIDEO_HREF.search(await link.get_attribute("href") or "")
            if match and text == wanted:
                user, video_id = match.groups()
                url = f"https://www.tiktok.com/@{user}/video/{video_id}"
                return RemotePost(remote_id=video_id, url=url, raw={"via": "web"})
        return None
