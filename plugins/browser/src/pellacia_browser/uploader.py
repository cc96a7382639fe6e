"""``PageScriptUploader``: the base class of every platform's browser uploader.

A platform's page script subclasses it, sets ``platform`` and implements
``run(page, job, attempt)``: drive the upload page and return the post.
The base class opens Chromium on the job's route with the account's
persistent profile, and on any failure saves a screenshot and the page's
HTML into ``job.artifacts_dir`` (for the manual queue) before raising a
typed error. Call ``attempt.submitted()`` right before the click that
publishes: a failure after it is ``OutcomeUnknown`` (reconcile, never
repeat blindly), before it ``Transient``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pellacia.contract import BrowserJob, RemotePost
from pellacia.errors import OutcomeUnknown, PellaciaError, Transient

from pellacia_browser.launcher import BrowserSettings, launch_browser


@dataclass
class Attempt:
    """One run of a page script: whether it reached the point of no return."""

    is_submitted: bool = False
    artifacts: list[Path] = field(default_factory=list)

    def submitted(self) -> None:
        """Mark that the publishing action is about to happen."""
        self.is_submitted = True


class PageScriptUploader(ABC):
    """Publishes through a platform's web upload page with a real Chromium."""

    platform: str = ""

    def __init__(self, settings: BrowserSettings | None = None) -> None:
        if not self.platform:
            raise TypeError(f"{type(self).__name__} must set a class attribute 'platform'")
        self.settings = settings or BrowserSettings()

    @abstractmethod
    async def run(self, page: Any, job: BrowserJob, attempt: Attempt) -> RemotePost:
        """Drive the page: sign-in check, file chooser, caption, publish; return the post."""

    async def upload(self, job: BrowserJob) -> RemotePost:
        attempt = Attempt()
        profile = (job.request.platform, job.request.account)
        async with launch_browser(self.settings, proxy=job.route.proxy, profile=profile) as browser:
            page = await browser.new_page()
            try:
                return await self.run(page, job, attempt)
            except Exception as exc:  # cancellation passes through untouched
                attempt.artifacts = await save_evidence(page, job, reason=exc)
                raise self._typed(exc, attempt) from None

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
    except Exception:  # evidence is best effort: the original error matters more
        pass
    return saved


def _describe(exc: BaseException) -> str:
    from pellacia.log import redact_text

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return redact_text(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
