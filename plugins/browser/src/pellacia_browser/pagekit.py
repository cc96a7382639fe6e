"""What page scripts share: finding elements, overlays, real typing, waiting, blockers.

Selectors rot, so a page script names each element it needs once, as a
:class:`Target`: role and accessible name first, then label, then visible
text, and only last the platform's CSS fallback. The fallbacks of one
platform live in one table (its ``Target`` constants), so a changed site is
fixed in one place.

A :class:`Blockers` table says how the platform shows a login wall, a
captcha and a "too many attempts" notice; :meth:`PageKit.check_blockers`
turns any of them into a :class:`~pellacia.errors.Challenge` (never retried
by the page script).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from typing import Any

from pellacia.errors import Challenge, Transient

#: how often a wait looks at the page again, seconds
POLL_S = 0.1


@dataclass(frozen=True)
class Target:
    """One element a page script needs, in the order it is looked up."""

    what: str  # for messages: "the Post button"
    role: str | None = None
    name: str | re.Pattern[str] | None = None
    label: str | None = None
    text: str | None = None
    css: str | None = None  # the per-platform fallback


@dataclass(frozen=True)
class Overlay:
    """A known interrupting dialog and the button that closes it."""

    what: str
    dialog: Target
    close: Target


@dataclass(frozen=True)
class Blockers:
    """How a platform says "a person must act": URL parts and page texts/selectors."""

    login_url: tuple[str, ...] = ()
    login_css: tuple[str, ...] = ()
    captcha_css: tuple[str, ...] = ()
    captcha_text: tuple[str, ...] = ()
    too_many_text: tuple[str, ...] = ()


class PageKit:
    """A page (or an iframe's frame) plus the helpers page scripts use."""

    def __init__(
        self,
        page: Any,
        platform: str,
        *,
        timeout_s: float = 30.0,
        blockers: Blockers | None = None,
        account: str = "",
    ) -> None:
        self.page = page
        self.root: Any = page  # a frame when the site nests the uploader in an iframe
        self.platform = platform
        self.timeout_s = timeout_s
        #: when set, an element not found is first explained by a blocker (``Challenge``)
        self.blockers = blockers
        self.account = account
        #: the HTTP status of the page's latest document (None: not seen yet)
        self.document_status: int | None = None
        on = getattr(page, "on", None)  # a Playwright page; an iframe's frame has none
        if callable(on):
            on("response", self._seen_response)

    def _seen_response(self, response: Any) -> None:
        """Remember the status of each top-level document the page loads."""
        with contextlib.suppress(Exception):  # a page closing under us: nothing to remember
            request = response.request
            if request.is_navigation_request() and request.frame.parent_frame is None:
                self.document_status = int(response.status)

    def _not_found(self, what: str, hint: str = "") -> Transient:
        """The error for an element that is not there: a site answering 5xx says so,
        rather than sending the operator to look for a changed page."""
        status = self.document_status
        if status is not None and status >= 500:
            return Transient(
                f"{self.platform} page answered HTTP {status}: the site is failing "
                f"({what} not found)",
                platform=self.platform,
            )
        return Transient(f"{self.platform} page: {what} not found{hint}", platform=self.platform)

    # ---------------------------------------------------------- finding

    def candidates(self, target: Target) -> list[Any]:
        """Locators for ``target``, most stable first."""
        root, out = self.root, []
        if target.role:
            options = {"name": target.name} if target.name is not None else {}
            out.append(root.get_by_role(target.role, **options))
        if target.label:
            out.append(root.get_by_label(target.label, exact=True))
        if target.text:
            out.append(root.get_by_text(target.text))  # a substring: toasts add words
        if target.css:
            out.append(root.locator(target.css))
        return out

    async def find(self, target: Target, *, timeout_s: float | None = None) -> Any:
        """The first visible match of ``target`` (polling), else ``Transient``."""
        found = await self.find_optional(target, timeout_s=timeout_s)
        if found is None:
            if self.blockers is not None:
                await self.check_blockers(self.blockers, self.account)
            raise self._not_found(target.what, " (the page may have changed)")
        return found

    async def find_optional(self, target: Target, *, timeout_s: float | None = None) -> Any:
        """The first visible match of ``target`` within ``timeout_s``, or None."""
        deadline = _now() + (self.timeout_s if timeout_s is None else timeout_s)
        while True:
            for locator in self.candidates(target):
                first = locator.first
                if await first.count() and await first.is_visible():
                    return first
            if _now() >= deadline:
                return None
            await asyncio.sleep(POLL_S)

    async def attached(self, target: Target) -> Any:
        """The first match of ``target`` even when hidden (file inputs)."""
        for locator in self.candidates(target):
            if await locator.count():
                return locator.first
        raise self._not_found(target.what)

    # -------------------------------------------------------- overlays

    async def dismiss(self, overlays: tuple[Overlay, ...]) -> list[str]:
        """Close every known overlay that is open; returns what was closed."""
        closed = []
        for overlay in overlays:
            if await self.find_optional(overlay.dialog, timeout_s=0) is None:
                continue
            button = await self.find_optional(overlay.close, timeout_s=2)
            if button is not None:
                await button.click()
                closed.append(overlay.what)
        return closed

    # ----------------------------------------------------------- typing

    async def type_into(self, editor: Any, text: str, *, clear: bool = True) -> None:
        """Focus ``editor`` and type ``text`` with real key/input events (rich
        editors ignore a scripted ``value``); ``clear`` empties it first."""
        await editor.click()
        if clear:
            await self.page.keyboard.press("ControlOrMeta+A")
            await self.page.keyboard.press("Backspace")
        lines = text.split("\n")
        for i, line in enumerate(lines):
            if line:
                await self.page.keyboard.insert_text(line)
            if i < len(lines) - 1:
                await self.page.keyboard.press("Enter")

    # ---------------------------------------------------------- waiting

    async def wait_enabled(self, target: Target, *, timeout_s: float, while_: str) -> Any:
        """``target`` once it is enabled (``disabled``/``aria-disabled``/``data-disabled``
        all clear), checking for blockers meanwhile; ``Transient`` after ``timeout_s``."""
        deadline = _now() + timeout_s
        while True:
            element = await self.find_optional(target, timeout_s=0)
            if element is not None and await _enabled(element):
                return element
            if _now() >= deadline:
                raise Transient(
                    f"{self.platform} page: {target.what} still disabled after "
                    f"{timeout_s:.0f} s ({while_})",
                    platform=self.platform,
                )
            await asyncio.sleep(POLL_S)

    # --------------------------------------------------------- blockers

    async def check_blockers(self, blockers: Blockers, account: str) -> None:
        """``Challenge`` when the page shows a login wall, captcha or rate notice."""
        from pellacia_browser.sessions import login_command

        url = self.page.url
        login = any(part in url for part in blockers.login_url)
        if not login:
            login = await self._any_visible(blockers.login_css)
        if login:
            raise SessionExpired(
                f"{self.platform}: the browser session of {account} is signed out "
                f"(login wall); sign in again: {login_command(self.platform, account)}",
                platform=self.platform,
            )
        if await self._any_visible(blockers.captcha_css) or await self._shows(
            blockers.captcha_text
        ):
            raise Challenge(
                f"{self.platform} shows a captcha / security check: a person must solve it "
                f"in the browser profile of {account} ({login_command(self.platform, account)})",
                platform=self.platform,
            )
        if await self._shows(blockers.too_many_text):
            raise Challenge(
                f"{self.platform} says too many attempts: browser posting for {account} "
                "stops here; try again in a few hours",
                platform=self.platform,
            )

    async def _any_visible(self, selectors: tuple[str, ...]) -> bool:
        for css in selectors:
            for root in {id(self.page): self.page, id(self.root): self.root}.values():
                found = root.locator(css).first
                if await found.count() and await found.is_visible():
                    return True
        return False

    async def _shows(self, texts: tuple[str, ...]) -> bool:
        for text in texts:
            found = self.page.get_by_text(text).first
            if await found.count() and await found.is_visible():
                return True
        return False


class SessionExpired(Challenge):
    """The profile is signed out: a person must run ``browser login`` again."""


async def _enabled(element: Any) -> bool:
    if await element.get_attribute("disabled") is not None:
        return False
    for attr in ("aria-disabled", "data-disabled"):
        if (await element.get_attribute(attr) or "").lower() == "true":
            return False
    return True


def _now() -> float:
    return asyncio.get_running_loop().time()
