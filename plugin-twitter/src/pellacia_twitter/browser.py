"""X's web composer driven by Chromium: the browser layers' page script.

Installed with the ``browser`` extra (``pip install 'pellacia-dist-twitter[browser]'``).
Follows browser-flows.md §5: ``/compose/post`` opens the compose dialog over
the timeline, whose inline composer has the same test ids, so every lookup is
scoped to the dialog (the dual-surface trap); the login flow, an "Authenticate
your account" puzzle or "looks like it might be automated" is a
``Challenge``; the hidden ``input[data-testid=fileInput]`` takes the video;
the text is typed with real key events into ``tweetTextarea_0``; Post once
the video player replaced the progress bar; the toast "Your post was sent."
links the post. A lost confirmation is settled on the account's profile,
by the post's text (X refuses the same text twice a day, so it marks the post).
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

from pellacia_twitter.client import PLATFORM, post_url
from pellacia_twitter.text import normalised, text_of

_STATUS = re.compile(r"/([^/]+)/status/(\d+)")

PROFILE_LINK = Target(
    "the Profile link", role="link", name="Profile", css='a[data-testid="AppTabBar_Profile_Link"]'
)
DIALOG = Target("the compose dialog", role="dialog", name="Compose post")
FILE_INPUT = Target("the media input", css='input[data-testid="fileInput"]')
EDITOR = Target("the post text", role="textbox", css='[data-testid="tweetTextarea_0"]')
READY = Target("the processed video", css='[data-testid="attachments"] [data-testid="videoPlayer"]')
POST = Target("the Post button", css='button[data-testid="tweetButton"]')
SENT = Target("the sent toast", css='[data-testid="toast"] a[href*="/status/"]')
ERROR_TOAST = Target("an error", text="Something went wrong")
UPLOAD_FAILED = Target("an upload error", text="Upload failed")
OVERLAYS = (
    Overlay(
        "cookie consent",
        Target("cookie sheet", role="dialog", name="cookies"),
        Target("refuse", role="button", name="Refuse non-essential cookies"),
    ),
)
BLOCKERS = Blockers(
    login_url=("/i/flow/login",),
    login_css=('[data-testid="loginButton"]',),
    captcha_text=("Authenticate your account",),
    too_many_text=("looks like it might be automated",),
)


class XPageScript(PageScriptUploader):
    """Posts one video through X's web composer."""

    platform = PLATFORM
    blockers = BLOCKERS
    site = "https://x.com"
    login_path = "/i/flow/login"
    cap = BrowserCap(posts_per_day=3, min_spacing_s=1800)

    async def run(self, page: Any, job: BrowserJob, attempt: Attempt) -> RemotePost:
        kit = PageKit(page, self.platform, timeout_s=self.settings.timeout_ms / 1000)
        base, account = self.base_for(job), job.request.account
        await page.goto(base + "/compose/post")
        await kit.check_blockers(BLOCKERS, account)
        attempt.step("composer loaded; the session is signed in")
        await kit.dismiss(OVERLAYS)
        kit.root = await kit.find(DIALOG)  # never the timeline's inline composer
        await (await kit.attached(FILE_INPUT)).set_input_files(str(job.request.video.path))
        attempt.step("video chosen")
        text = text_of(job.request)
        await kit.type_into(await kit.find(EDITOR), text)
        attempt.step("text typed")
        await self._wait_processed(kit, job)
        attempt.step("video processed")
        button = await kit.wait_enabled(POST, timeout_s=60, while_="video processed")
        attempt.submitted()
        await button.click()
        return await self._confirmed(kit, base, text, account)

    async def _wait_processed(self, kit: PageKit, job: BrowserJob) -> None:
        limit = float(job.settings.get("upload_timeout_s", 1200))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while await kit.find_optional(READY, timeout_s=0) is None:
            await kit.check_blockers(BLOCKERS, job.request.account)
            if await kit.page.get_by_text(UPLOAD_FAILED.text).count():
                raise Transient("X: the upload broke off (network)", platform=PLATFORM)
            if loop.time() >= deadline:
                raise Transient(f"X: video not processed after {limit:.0f} s", platform=PLATFORM)
            await asyncio.sleep(0.2)

    async def _confirmed(self, kit: PageKit, base: str, text: str, account: str) -> RemotePost:
        page, loop = kit.page, asyncio.get_running_loop()
        kit.root = page
        deadline = loop.time() + 60
        while loop.time() < deadline:
            link = await kit.find_optional(SENT, timeout_s=0)
            if link is not None:
                match = _STATUS.search(await link.get_attribute("href") or "")
                if match:
                    return self._post(*match.groups())
            if await kit.find_optional(ERROR_TOAST, timeout_s=0) is not None:
                break  # never press Post again: look on the profile instead
            await asyncio.sleep(0.2)
        found = await self.find_post(kit, base, text, account)
        if found is None:
            raise OutcomeUnknown(
                "X: Post was clicked but no confirmation came and the profile does not "
                "show the post (yet); check before posting again",
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
        """The newest post with ``text`` on the signed-in user's profile, or None."""
        page = kit.page
        await page.goto(base + "/home")
        await kit.check_blockers(BLOCKERS, account)
        href = await (await kit.find(PROFILE_LINK)).get_attribute("href") or ""
        profile = f"{base}/{href.rstrip('/').rsplit('/', 1)[-1]}"
        await page.goto(profile)
        wanted = normalised(text)
        for article in await page.locator('article[data-testid="tweet"]').all():
            body = await article.locator('[data-testid="tweetText"]').inner_text()
            href = await article.locator('a[href*="/status/"]').first.get_attribute("href")
            match = _STATUS.search(href or "")
            if match and normalised(body) == wanted:
                return self._post(*match.groups())
        return None

    @staticmethod
    def _post(user: str, post_id: str) -> RemotePost:
        return RemotePost(remote_id=post_id, url=post_url(post_id, user), raw={"via": "web"})
