"""LinkedIn's versioned REST API through ``pellacia.sdk.ApiClient``, and its errors.

Every call carries ``LinkedIn-Version: YYYYMM`` (``settings["linkedin_version"]``;
LinkedIn sunsets a version about a year after it ships, so a version older
than ``SUNSET_WARN_MONTHS`` is logged as a warning) and
``X-Restli-Protocol-Version: 2.0.0``. Rest.li 2.0 wants URNs percent-encoded
where they appear in a path or a query (``urn%3Ali%3Avideo%3A…``), and lists
written ``List(a,b)``: ``urn_path`` and ``query`` build them, and the URL is
sent exactly as built (aiohttp would otherwise decode ``%3A``).

Errors (protocols.md §6): the body is ``{"status", "serviceErrorCode",
"code", "message"}``.

- 429: LinkedIn's limits are daily, reset at midnight UTC, and it sends no
  rate-limit header: ``RateLimited`` until the next UTC midnight (a
  ``Retry-After``, if one ever comes, wins).
- 401 after the SDK's one refresh → ``AuthExpired``.
- 403: a missing permission or organization role → ``Rejected`` naming both.
- 400/422 and other 4xx → ``Rejected`` with LinkedIn's message; 5xx → ``Transient``.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import quote

from pellacia.contract import PlatformContext
from pellacia.errors import PlatformError, RateLimited, Rejected
from pellacia.log import get_logger, redact_text
from pellacia.sdk import ApiClient, Reply

PLATFORM = "linkedin"
API_BASE = "https://api.linkedin.com"
WWW_BASE = "https://www.linkedin.com"
#: the Marketing/Community Management version these calls were written against
DEFAULT_VERSION = "202605"
#: LinkedIn supports a version for about a year: warn a month before
SUNSET_WARN_MONTHS = 11
DAILY_QUOTA = "linkedin:daily-posts"
_VERSION = re.compile(r"^(\d{4})(\d{2})$")

log = get_logger("pellacia_linkedin")
_warned: set[str] = set()


def next_utc_midnight(now: datetime) -> datetime:
    """When LinkedIn's daily limits reset after ``now``."""
    tomorrow = now.astimezone(UTC).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0, 0), tzinfo=UTC)


def api_version(settings: Mapping[str, Any]) -> str:
    """``settings["linkedin_version"]`` (default ``DEFAULT_VERSION``), checked to be YYYYMM."""
    version = str(settings.get("linkedin_version") or DEFAULT_VERSION)
    if not _VERSION.match(version):
        raise Rejected(
            f"LinkedIn: linkedin_version must be YYYYMM (e.g. {DEFAULT_VERSION}), not {version!r}",
            platform=PLATFORM,
        )
    return version


def months_old(version: str, now: datetime) -> int:
    """How many months ago ``version`` (YYYYMM) shipped."""
    match = _VERSION.match(version)
    if match is None:
        return 0
    year, month = int(match.group(1)), int(match.group(2))
    return (now.year - year) * 12 + now.month - month


def warn_if_near_sunset(version: str, now: datetime) -> None:
    """Log once per version when it is close to LinkedIn's sunset (about a year)."""
    age = months_old(version, now)
    if age >= SUNSET_WARN_MONTHS and version not in _warned:
        _warned.add(version)
        log.warning(
            "linkedin.version_near_sunset",
            linkedin_version=version,
            months_old=age,
            hint="set [plugins.linkedin] linkedin_version to a current YYYYMM after "
            "checking LinkedIn's migration notes",
        )


def urn_path(urn: str) -> str:
    """A URN as one path segment or query value: fully percent-encoded."""
    return quote(urn, safe="")


def restli_list(urns: Iterable[str]) -> str:
    """``List(a,b)`` with each URN encoded (the Rest.li 2.0 list syntax)."""
    return "List(" + ",".join(urn_path(u) for u in urns) + ")"


def query(pairs: Mapping[str, str], *, raw: Container[str] = ()) -> str:
    """A query string; values are percent-encoded except the keys in ``raw``
    (already Rest.li syntax, like ``List(...)``)."""
    return "&".join(f"{k}={v if k in raw else quote(v, safe='')}" for k, v in pairs.items())


def error_of(reply: Reply) -> tuple[str, str]:
    """``(code, message)`` of LinkedIn's error body (empty strings when absent)."""
    data = reply.json()
    if not isinstance(data, dict):
        return "", ""
    code = str(data.get("code") or data.get("serviceErrorCode") or data.get("error") or "")
    message = str(data.get("message") or data.get("error_description") or "")
    return code, message


class LinkedInApi(ApiClient):
    """Authorized calls to ``api.linkedin.com`` for one operation of one account."""

    display_name = "LinkedIn"
    base_url = API_BASE
    # Rest.li 2.0 reads a decoded ':' in a URN as syntax: send URLs as built
    encoded_urls = True

    def __init__(self, ctx: PlatformContext) -> None:
        super().__init__(ctx)
        self.version = api_version(ctx.settings)
        warn_if_near_sunset(self.version, ctx.clock.now())

    def describe(self, reply: Reply) -> str:
        code, message = error_of(reply)
        return redact_text(": ".join(p for p in (code, message) if p))[:300]

    def error_for(self, reply: Reply, action: str) -> PlatformError:
        status = reply.status
        detail = self.describe(reply)
        text = f"LinkedIn {action}: HTTP {status}" + (f": {detail}" if detail else "")
        if status == 429:
            return self.daily_limit(text, reply)
        if status == 403:
            return Rejected(
                f"{text} (the token lacks the permission, or the member lacks the "
                "organization role: w_member_social to post as a member; "
                "w_organization_social and an ADMINISTRATOR, CONTENT_ADMINISTRATOR or "
                "DIRECT_SPONSORED_CONTENT_POSTER role to post as an organization)",
                platform=PLATFORM,
            )
        return super().error_for(reply, action)

    def daily_limit(self, text: str, reply: Reply) -> RateLimited:
        """A 429: until ``Retry-After`` when sent, else until the next UTC midnight."""
        wait = self.retry_after(reply)
        if wait is not None:
            return self.rate_limited(text, wait, quota=DAILY_QUOTA)
        now = self.ctx.clock.now()
        reset = next_utc_midnight(now)
        return RateLimited(
            f"{text} (LinkedIn's daily limit; it resets at midnight UTC)",
            platform=PLATFORM,
            retry_after=max(1.0, (reset - now).total_seconds()),
            reset_at=reset,
            quota=DAILY_QUOTA,
        )

    def common_headers(self) -> Mapping[str, str]:
        """LinkedIn's version headers, on every call."""
        return {"LinkedIn-Version": self.version, "X-Restli-Protocol-Version": "2.0.0"}

    async def get(self, path: str, *, action: str, method_header: str = "") -> dict[str, Any]:
        """GET ``path`` (already encoded) and return its JSON object."""
        headers = {"X-RestLi-Method": method_header} if method_header else None
        return await self.json("GET", path, action=action, headers=headers)
