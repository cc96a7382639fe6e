"""The browser posting cap: per account, stricter than any API's.

A web upload looks like a person at a keyboard only when it is rare, so each
page script sets a conservative default (posts per rolling day, minimum
spacing) that ``[plugins.<platform>] browser_cap`` may lower or raise. Over
the cap the layer raises ``RateLimited`` with the time it may run again: the
executor parks the delivery instead of pressing on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pellacia.errors import RateLimited

from pellacia_browser.sessions import SessionInfo

DAY = timedelta(days=1)


@dataclass(frozen=True)
class BrowserCap:
    """At most ``posts_per_day`` browser posts per account in any 24 h, and
    ``min_spacing_s`` seconds between two of them."""

    posts_per_day: int = 3
    min_spacing_s: float = 1800.0

    def configured(self, section: Mapping[str, Any] | None) -> BrowserCap:
        """This cap with the ``browser_cap`` table's overrides."""
        if not section:
            return self
        return replace(
            self,
            posts_per_day=int(section.get("posts_per_day", self.posts_per_day)),
            min_spacing_s=float(section.get("min_spacing_s", self.min_spacing_s)),
        )

    def not_before(self, info: SessionInfo, now: datetime) -> datetime | None:
        """When the account may post through the browser again, None for now."""
        recent = sorted(t for t in info.post_times() if now - t < DAY)
        waits = []
        if recent and self.min_spacing_s > 0:
            waits.append(recent[-1] + timedelta(seconds=self.min_spacing_s))
        if len(recent) >= self.posts_per_day:
            waits.append(recent[len(recent) - self.posts_per_day] + DAY)
        later = [w for w in waits if w > now]
        return max(later) if later else None

    def check(self, info: SessionInfo, now: datetime) -> None:
        """``RateLimited`` when the account is over its browser cap."""
        until = self.not_before(info, now)
        if until is not None:
            raise RateLimited(
                f"{info.platform}: browser posting cap of {info.account} "
                f"({self.posts_per_day} a day, {self.min_spacing_s / 60:.0f} min apart) "
                f"reached; next at {until:%H:%M} UTC",
                platform=info.platform,
                reset_at=until,
                quota=f"{info.platform}:browser-posts",
            )
