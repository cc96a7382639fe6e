"""LinkedIn's share box driven by Chromium: the browser layers' page script.

Installed with the ``browser`` extra (``pip install 'pellacia-dist-linkedin[browser]'``).
Follows browser-flows.md §6: ``/feed/``; the login or authwall page, "Let's do
a quick security check" or "temporarily restricted" is a ``Challenge``;
"Start a post" opens the composer; "Add media" opens the media editor, whose
``input#media-editor-file-selector__file-input`` takes the video (the image
picker is not it); "Next" once processed; the text typed with real key events
into the Quill editor; Post; the toast "Post successful." links the post. A
lost confirmation is settled on the member's activity page by the post's text.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from pellacia.contract import BrowserJob, PublishRequest, RemotePost
from pellacia.errors import OutcomeUnknown, Transient
from pellacia_browser.pagekit import Blockers, Overlay, PageKit, Target
from pellacia_browser.safety import BrowserCap
from pellacia_browser.uploader import Attempt, PageScriptUploader

from pellacia_linkedin.client import PLATFORM
from pellacia_linkedin.posts import FEED_URL

_UPDATE = re.compile(r"/feed/update/(urn:li:[A-Za-z]+:\d+)/")

START = Target("Start a post", role="button", name="Start a post")
ADD_MEDIA = Target("Add media", role="button", name="Add media", css='[aria-label="Add media"]')
FILE_INPUT = Target("the video input", css="input#media-editor-file-selector__file-input")
NEXT = Target("the media editor's Next", role="button", name="Next", css=".next-button")
EDITOR = Target("the post text", role="textbox", css=".ql-editor[contenteditable]")
POST = Target("the Post button", css="button.share-actions__primary-action")
SENT = Target("the success toast", css=".artdeco-toast-item--visible a[href*='/feed/update/']")
ME = Target("the Me link", css=".global-nav__me a")
ERROR_TOAST = Target("an error", text="Something went wrong")
UPLOAD_FAILED = Target("an upload error", text="Upload failed")
OVERLAYS = (
    Overlay(
        "premium upsell",
        Target("upsell", role="dialog", name="Try Premium"),
        Target("Dismiss", role="button", name="Dismiss"),
    ),
)
BLOCKERS = Blockers(
    login_url=("/login", "/authwall", "/uas/login"),
    login_css=("#username",),
    captcha_text=("Let's do a quick security check",),
    too_many_text=("temporarily restricted",),
)


def text_of(request: PublishRequest) -> str:
    """What a person types: the commentary option, else title, description, hashtags."""
    given = request.options.get("commentary")
    if isinstance(given, str):
        return given
    parts = [request.title.strip(), request.description.strip(), " ".join(request.hashtags)]
    return "\n\n".join(p for i, p in enumerate(parts) if p and p not in parts[:i])


class LinkedInPageScript(PageScriptUploader):
    """Posts one video through LinkedIn's share box."""

    platform = PLATFORM
    blockers = BLOCKERS
    site = "https://www.linkedin.com"
    cap = BrowserCap(posts_per_day=2, min_spacing_s=3600)

    async def run(self, page: Any, job: BrowserJob, attempt: Attempt) -> RemotePost:
        kit = PageKit(page, self.platform, timeout_s=self.settings.timeout_ms / 1000)
        base, account = self.base_for(job), job.request.account
        await page.goto(base + "/feed/")
        await kit.check_blockers(BLOCKERS, account)
        attempt.step("feed loaded; the session is signed in")
        await (await kit.find(START)).click()
        await kit.dismiss(OVERLAYS)
        await (await kit.find(ADD_MEDIA)).click()
        await (await kit.attached(FILE_INPUT)).set_input_files(str(job.request.video.path))
        attempt.step("video chosen")
        await self._wait_processed(kit, job)
        await (await kit.find(NEXT)).click()
        attempt.step("video processed")
        text = text_of(job.request)
        await kit.type_into(await kit.find(EDITOR), text)
        attempt.step("text typed")
        button = await kit.wait_enabled(POST, timeout_s=60, while_="text and video set")
        attempt.submitted()
        await button.click()
        return await self._confirmed(kit, base, text, account)

    async def _wait_processed(self, kit: PageKit, job: BrowserJob) -> None:
        limit = float(job.settings.get("upload_timeout_s", 1200))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while True:
            await kit.check_blockers(BLOCKERS, job.request.account)
            button = await kit.find_optional(NEXT, timeout_s=0)
            if button is not None and await button.is_enabled():
                return
            if await kit.page.get_by_text(UPLOAD_FAILED.text).count():
                raise Transient("LinkedIn: the upload broke off (network)", platform=PLATFORM)
            if loop.time() >= deadline:
                raise Transient(f"LinkedIn: video not processed after {limit:.0f} s")
            await asyncio.sleep(0.2)

    async def _confirmed(self, kit: PageKit, base: str, text: str, account: str) -> RemotePost:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while loop.time() < deadline:
            link = await kit.find_optional(SENT, timeout_s=0)
            if link is not None:
                match = _UPDATE.search(await link.get_attribute("href") or "")
                if match:
                    return self._post(match.group(1))
            if await kit.find_optional(ERROR_TOAST, timeout_s=0) is not None:
                break  # never press Post again: look on the activity page instead
            await asyncio.sleep(0.2)
        found = await self.find_post(kit, base, text, account)
        if found is None:
            raise OutcomeUnknown(
                "LinkedIn: Post was clicked but no confirmation came and the activity page "
                "does not show the post (yet); check before posting again",
                platform=PLATFORM,
            )
        return found

    async def find(self, page: Any, job: BrowserJob) -> RemotePost | None:
        kit = PageKit(page, self.platform, timeout_s=self.settings.timeout_ms / 1000)
        return await self.find_post(
            kit, self.base_for(job), text_of(job.request), job.request.account
        )

    async def find_post(
        self, kit: PageKit, base: str, text: str, account: str
    ) -> RemotePost | None:
        """The newest post with ``text`` on the member's activity page, or None."""
        page = kit.page
        await page.goto(base + "/feed/")
        await kit.check_blockers(BLOCKERS, account)
        me = (await (await kit.attached(ME)).get_attribute("href") or "").strip("/")
        await page.goto(f"{base}/{me}/recent-activity/all/")
        wanted = " ".join(text.split())
        for item in await page.locator(".feed-shared-update-v2").all():
            body = " ".join((await item.locator(".update-components-text").inner_text()).split())
            match = _UPDATE.search(await item.locator("a").first.get_attribute("href") or "")
            if match and body == wanted:
                return self._post(match.group(1))
        return None

    @staticmethod
    def _post(urn: str) -> RemotePost:
        return RemotePost(remote_id=urn, url=FEED_URL.format(urn), raw={"via": "web"})
