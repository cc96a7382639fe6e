"""YouTube Studio's upload dialog driven by Chromium: the browser layers' page script.

Installed with the ``browser`` extra (``pip install 'pellacia-dist-youtube[browser]'``).
Follows browser-flows.md §2: ``/upload`` (Studio redirects to the channel's
upload dialog); a Google sign-in page, "Verify it's you" or "Daily upload
limit reached" is a ``Challenge``; the hidden ``input[name=Filedata]`` (not
the thumbnail's); title and description typed with real key events (Studio
pre-fills the title with the file name); the required made-for-kids answer;
the delivery's tag in Tags (the same marker the API layer writes, so either
layer's reconcile recognises the video); Next three times; the visibility;
then, once "Checks complete", Publish. The video id is read from the
``youtu.be`` link Studio shows while uploading, so a lost confirmation is
settled by looking for that id on the channel's content page.
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

from pellacia_youtube.client import PLATFORM
from pellacia_youtube.platform import DEFAULT_PRIVACY, WATCH_URL, delivery_tag

_SHORT_LINK = re.compile(r"^https://youtu\.be/([A-Za-z0-9_-]{11})$")

VIDEO_INPUT = Target("the video file input", css='ytcp-uploads-dialog input[name="Filedata"]')
TITLE = Target(
    "the title editor", role="textbox", name="Add a title", css="#title-textarea #textbox"
)
DESCRIPTION = Target(
    "the description editor",
    role="textbox",
    name="Tell viewers",
    css="#description-textarea #textbox",
)
NOT_FOR_KIDS = Target(
    "the not-made-for-kids answer",
    role="radio",
    name="No, it's not made for kids",
    css='tp-yt-paper-radio-button[name="VIDEO_MADE_FOR_KIDS_NOT_MFK"]',
)
FOR_KIDS = Target(
    "the made-for-kids answer",
    role="radio",
    name="Yes, it's made for kids",
    css='tp-yt-paper-radio-button[name="VIDEO_MADE_FOR_KIDS_MFK"]',
)
SHOW_MORE = Target("Show more", role="button", name="Show more", css="#toggle-button")
TAGS = Target("the Tags input", label="Tags", css='[aria-label="Tags"]')
NEXT = Target("the Next button", role="button", name="Next", css="#next-button")
DONE = Target("the Publish button", css="#done-button")
VIDEO_LINK = Target("the video link", css="span.video-url-fadeable a")
PROGRESS = Target("the upload progress", css="span.progress-label")
PUBLISHED = Target("the published dialog", role="dialog", name="Video published")
ERROR_TOAST = Target("an error", text="Something went wrong")
OVERLAYS = (
    Overlay(
        "welcome dialog",
        Target("welcome dialog", role="dialog", name="Welcome to YouTube Studio"),
        Target("Continue", role="button", name="Continue", css="#dismiss-button"),
    ),
)
BLOCKERS = Blockers(
    login_url=("/ServiceLogin", "/signin/", "accounts.google.com"),
    login_css=("#identifierId",),
    captcha_text=("Verify it's you",),
    too_many_text=("Daily upload limit reached",),
)


class YouTubePageScript(PageScriptUploader):
    """Publishes one video through YouTube Studio's upload dialog."""

    platform = PLATFORM
    blockers = BLOCKERS
    site = "https://studio.youtube.com"
    login_path = "/ServiceLogin"
    cap = BrowserCap(posts_per_day=3, min_spacing_s=1800)

    async def run(self, page: Any, job: BrowserJob, attempt: Attempt) -> RemotePost:
        kit = PageKit(page, self.platform, timeout_s=self.settings.timeout_ms / 1000)
        base, request = self.base_for(job), job.request
        await page.goto(base + "/upload")
        await kit.check_blockers(BLOCKERS, request.account)
        attempt.step("upload dialog loaded; the session is signed in")
        await (await kit.attached(VIDEO_INPUT)).set_input_files(str(request.video.path))
        attempt.step("video chosen")
        await kit.type_into(await kit.find(TITLE), request.title)
        if request.caption:
            await kit.type_into(await kit.find(DESCRIPTION), request.caption)
        kids = bool(request.options.get("made_for_kids", False))
        await (await kit.find(FOR_KIDS if kids else NOT_FOR_KIDS)).click()
        await (await kit.find(SHOW_MORE)).click()
        tags = [*map(str, request.options.get("tags", ())), delivery_tag(request.idempotency_key)]
        for tag in tags:
            await (await kit.find(TAGS)).press_sequentially(tag)
            await page.keyboard.press("Enter")
        attempt.step("details filled (title, description, audience, tags)")
        for _ in range(3):
            await (await kit.find(NEXT)).click()
        privacy = str(
            request.options.get("privacy") or job.settings.get("privacy_status") or DEFAULT_PRIVACY
        ).upper()
        await (await kit.find(Target(privacy, css=f'#privacy-radios [name="{privacy}"]'))).click()
        attempt.step(f"visibility {privacy.lower()}")
        video_id = await self._wait_checked(kit, job)
        attempt.step("upload processed; checks complete")
        await kit.dismiss(OVERLAYS)
        button = await kit.wait_enabled(DONE, timeout_s=60, while_="checks complete")
        attempt.submitted()
        await button.click()
        return await self._confirmed(kit, base, video_id, request.account)

    async def _wait_checked(self, kit: PageKit, job: BrowserJob) -> str:
        """The video id, once Studio says "Checks complete"."""
        limit = float(job.settings.get("upload_timeout_s", 1200))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while True:
            await kit.check_blockers(BLOCKERS, job.request.account)
            label = await (await kit.attached(PROGRESS)).text_content() or ""
            if "network error" in label:
                raise Transient("YouTube: the upload broke off (network)", platform=PLATFORM)
            link = await (await kit.attached(VIDEO_LINK)).get_attribute("href") or ""
            match = _SHORT_LINK.match(link)
            if match and "Checks complete" in label:
                return match.group(1)
            if loop.time() >= deadline:
                raise Transient(f"YouTube: upload not processed after {limit:.0f} s")
            await asyncio.sleep(0.2)

    async def _confirmed(self, kit: PageKit, base: str, video_id: str, account: str) -> RemotePost:
        """The post after Publish: the "Video published" dialog, or, when that
        answer is lost, the video id found on the channel's content page."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while loop.time() < deadline:
            if await kit.find_optional(PUBLISHED, timeout_s=0) is not None:
                return self._post(video_id)
            if await kit.find_optional(ERROR_TOAST, timeout_s=0) is not None:
                break  # never press Publish again: look for the video instead
            await asyncio.sleep(0.2)
        if await self.find_video(kit, base, video_id, account):
            return self._post(video_id)
        raise OutcomeUnknown(
            f"YouTube: Publish was clicked but video {video_id} is not on the channel "
            "(yet); check before posting again",
            platform=PLATFORM,
        )

    async def find_video(self, kit: PageKit, base: str, video_id: str, account: str) -> bool:
        """Whether the channel's content page lists ``video_id``."""
        await kit.page.goto(base + "/upload")  # lands on the channel; its list is next door
        await kit.check_blockers(BLOCKERS, account)
        listing = kit.page.url.rsplit("/upload", 1)[0]
        await kit.page.goto(listing)
        return bool(await kit.page.locator(f'[data-video-id="{video_id}"]').count())

    @staticmethod
    def _post(video_id: str) -> RemotePost:
        return RemotePost(remote_id=video_id, url=WATCH_URL.format(video_id), raw={"via": "web"})
