"""``PageScriptUploader``: the base class of every platform's browser uploader.

A platform's page script subclasses it, sets ``platform`` and implements
``run(page, job, attempt)``: drive the upload page and return the post.
The base class opens Chromium on the job's route with the account's
persistent profile, and on any failure saves a screenshot and the page's
HTML into ``job.artifacts_dir`` (for the manual queue) before raising a
typed error. Call ``attempt.submitted()`` right before the click that
publishes: a failure after it is ``OutcomeUnknown`` (reconcile, never
repeat blindly), before it ``Transient``; in a rehearsal (``test browser``)
it stops the walk there. The account's browser posting cap is checked
before Chromium starts, and the profile's session facts (logged in, last
used) are updated after every run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pellacia.contract import BrowserJob, RemotePost
from pellacia.errors import Challenge, OutcomeUnknown, PellaciaError, Transient
from pellacia.log import get_logger

from pellacia_browser.launcher import BrowserSettings, launch_browser
from pellacia_browser.pagekit import Blockers, PageKit, SessionExpired
from pellacia_browser.safety import BrowserCap
from pellacia_browser.sessions import Profiles

log = get_logger("pellacia.browser")


class Rehearsed(Exception):
    """Raised by ``attempt.submitted()`` in a rehearsal: the walk stops before publishing."""


@dataclass
class Attempt:
    """One run of a page script: the steps it took and whether it reached the
    point of no return (in a rehearsal it stops there)."""

    is_submitted: bool = False
    rehearsal: bool = False
    steps: list[str] = field(default_factory=list)
    artifacts: list[Path] = field(default_factory=list)

    def step(self, done: str) -> None:
        """Record a step reached (``test browser`` prints them)."""
        self.steps.append(done)

    def submitted(self) -> None:
        """Mark that the publishing action is about to happen (a rehearsal stops here)."""
        if self.rehearsal:
            self.step("ready to publish (not clicked)")
            raise Rehearsed
        self.is_submitted = True


#: ``[plugins.browser]`` as loaded by the browser plugin's hook (page scripts'
#: default settings when none are passed)
CONFIGURED: dict[str, BrowserSettings] = {}


class PageScriptUploader(ABC):
    """Publishes through a platform's web upload page with a real Chromium."""

    platform: str = ""
    #: the platform's default browser posting cap (stricter than its API's)
    cap: BrowserCap = BrowserCap()
    #: how the site says "a person must act": explains a failure before it counts as Transient
    blockers: Blockers = Blockers()
    #: the real site's origin, and where its login page is
    site: str = ""
    login_path: str = "/login"

    def __init__(self, settings: BrowserSettings | None = None) -> None:
        if not self.platform:
            raise TypeError(f"{type(self).__name__} must set a class attribute 'platform'")
        self._settings = settings

    @property
    def settings(self) -> BrowserSettings:
        return self._settings or CONFIGURED.get("browser") or BrowserSettings()

    def site_base(self, section: Mapping[str, Any], sandbox_url: str | None) -> str:
        """The site's origin: ``web_base_url`` in the platform's table, else the
        sandbox's fake pages under ``/<platform>``, else the real site."""
        configured = section.get("web_base_url")
        if configured:
            return str(configured).rstrip("/")
        if sandbox_url:
            return f"{sandbox_url.rstrip('/')}/{self.platform}"
        return self.site

    def base_for(self, job: BrowserJob) -> str:
        return self.site_base(job.settings, job.sandbox_url)

    def login_url(self, base: str) -> str:
        """Where a person signs in (``browser login`` opens it)."""
        return base + self.login_path

    @abstractmethod
    async def run(self, page: Any, job: BrowserJob, attempt: Attempt) -> RemotePost:
        """Drive the page: sign-in check, file chooser, caption, publish; return the post."""

    async def upload(self, job: BrowserJob) -> RemotePost:
        """Publish ``job`` (within the account's browser cap); typed errors only."""
        profiles = Profiles(self.settings.profile_root())
        account = job.request.account
        cap = self.cap.configured(job.settings.get("browser_cap"))
        cap.check(profiles.read(self.platform, account), datetime.now(UTC))
        post = await self._drive(job, Attempt(), profiles)
        assert post is not None  # run returns the post or raises
        profiles.note(self.platform, account, post_at=datetime.now(UTC))
        return post

    async def find(self, page: Any, job: BrowserJob) -> RemotePost | None:
        """The delivery's post on the account's content page, None when it is not
        there; ``OutcomeUnknown`` when the page cannot tell (the default)."""
        raise OutcomeUnknown(
            f"{self.platform}: the web pages cannot tell whether this post went out",
            platform=self.platform,
        )

    async def reconcile(self, job: BrowserJob) -> RemotePost | None:
        """After an unknown outcome: look for the delivery's post before anything
        is posted again (``find`` on the account's content page)."""
        attempt = Attempt(rehearsal=True)  # looking never publishes
        profiles = Profiles(self.settings.profile_root())
        return await self._drive(job, attempt, profiles, look=True)

    async def rehearse(self, job: BrowserJob) -> list[str]:
        """Walk the form up to, not including, the publishing click; the steps taken."""
        attempt = Attempt(rehearsal=True)
        try:
            await self._drive(job, attempt, Profiles(self.settings.profile_root()))
        except Rehearsed:
            return attempt.steps
        raise Transient(f"{self.platform}: the page script published in a rehearsal")

    async def _drive(
        self, job: BrowserJob, attempt: Attempt, profiles: Profiles, *, look: bool = False
    ) -> RemotePost | None:
        account = job.request.account
        profile = (self.platform, account)
        async with launch_browser(self.settings, proxy=job.route.proxy, profile=profile) as browser:
            page = await browser.new_page()
            try:
                post = await (self.find(page, job) if look else self.run(page, job, attempt))
            except Rehearsed:
                profiles.note(self.platform, account, logged_in=True, used=True)
                raise
            except Exception as exc:  # cancellation passes through untouched
                exc = await self._explained(page, exc, account)
                attempt.artifacts = await save_evidence(page, job, reason=exc)
                if isinstance(exc, SessionExpired):
                    profiles.note(self.platform, account, logged_in=False, used=True)
                raise self._typed(exc, attempt) from None
        profiles.note(self.platform, account, logged_in=True, used=True)
        return post

    async def _explained(self, page: Any, exc: Exception, account: str) -> Exception:
        """``exc``, or the ``Challenge`` the page shows when a step failed untyped
        (a click that timed out because an "action blocked" notice replaced the form)."""
        if isinstance(exc, PellaciaError):
            return exc
        try:
            await PageKit(page, self.platform).check_blockers(self.blockers, account)
        except Challenge as shown:
            return shown
        except Exception:  # the page is gone: the original error says more
            return exc
        return exc

    def _typed(self, exc: Exception, attempt: Attempt) -> Exception:
        if isinstance(exc, PellaciaError):
            return exc
        where = f"see {attempt.artifacts[0].parent}" if attempt.artifacts else "no screenshot"
        message = f"{self.platform} upload page failed: {_describe(exc)} ({where})"
        if attempt.is_submitted:
            return OutcomeUnknown(message + "; the post may have gone out", platform=self.platform)
        return Transient(message, platform=self.platform)


async def save_evidence(page: Any, job: BrowserJob, *, reason: BaseException) -> list[Path]:
    """Screenshot and HTML of ``page`` into ``job.artifacts_dir``; never raises."""
    saved: list[Path] = []
    try:
        job.artifacts_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        stem = job.artifacts_dir / f"{job.request.delivery_id}-{stamp}"
        png = stem.with_suffix(".png")
        await page.screenshot(path=str(png), full_page=True)
        saved.append(png)
        html = stem.with_suffix(".html")
        html.write_text(await page.content(), encoding="utf-8")
        saved.append(html)
        note = stem.with_suffix(".txt")
        note.write_text(f"url: {page.url}\nerror: {_describe(reason)}\n", encoding="utf-8")
        saved.append(note)
    except Exception as exc:  # evidence is best effort: the original error matters more
        log.debug("browser.evidence_incomplete", error=type(exc).__name__)
    return saved


def _describe(exc: BaseException) -> str:
    from pellacia.log import redact_text

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return redact_text(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
