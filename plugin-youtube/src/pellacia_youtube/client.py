"""The Google APIs through ``pellacia.sdk.ApiClient``, and their error mapping.

The SDK adds the bearer token, refreshes once after a 401 and retries once,
never follows redirects (YouTube's 308 means "resume incomplete") and turns
network failures into ``Transient``. ``YouTubeApi.error_for`` reads Google's
error body (protocols.md §1 Errors): the daily unit quota and the channel's
upload cap are waits, not failures.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pellacia.errors import PlatformError, RateLimited
from pellacia.sdk import ApiClient, Reply

PLATFORM = "youtube"
GOOGLE_API = "https://www.googleapis.com"
OAUTH_TOKEN_HOST = "https://oauth2.googleapis.com"  # noqa: S105  a host
ACCOUNTS_HOST = "https://accounts.google.com"
PACIFIC = ZoneInfo("America/Los_Angeles")

DAILY_UNITS_QUOTA = "youtube:daily-units"
DAILY_UPLOADS_QUOTA = "youtube:daily-uploads"
#: reasons Google's client library retries (googleapiclient.http._should_retry_response)
RETRYABLE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})


def next_pacific_midnight(now: datetime) -> datetime:
    """When the YouTube daily quota resets after ``now``: midnight America/Los_Angeles.

    Computed on the wall clock of the zone, so it is 07:00 UTC in summer (PDT)
    and 08:00 UTC in winter (PST).
    """
    local = now.astimezone(PACIFIC)
    tomorrow = local.date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0, 0), tzinfo=PACIFIC).astimezone(now.tzinfo)


def error_reason(reply: Reply) -> tuple[str, str]:
    """``(reason, message)`` of a Google error body (empty strings when absent)."""
    data = reply.json()
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return "", ""
    errors = error.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {}
    return str(first.get("reason") or ""), str(error.get("message") or first.get("message") or "")


class YouTubeApi(ApiClient):
    """Authorized calls to the Google APIs for one operation of one account."""

    display_name = "YouTube"
    base_url = GOOGLE_API

    def describe(self, reply: Reply) -> str:
        reason, message = error_reason(reply)
        return ": ".join(p for p in (reason, message[:300]) if p)

    def error_for(self, reply: Reply, action: str) -> PlatformError:
        status = reply.status
        reason, _message = error_reason(reply)
        detail = f"YouTube {action}: HTTP {status}: {self.describe(reply)}"
        now = self.ctx.clock.now()
        if status == 403 and reason == "quotaExceeded":
            reset = next_pacific_midnight(now)
            return RateLimited(
                f"{detail} (daily API units used up; resets at midnight Pacific)",
                platform=PLATFORM,
                reset_at=reset,
                retry_after=(reset - now).total_seconds(),
                quota=DAILY_UNITS_QUOTA,
            )
        if status == 400 and reason == "uploadLimitExceeded":
            return self.rate_limited(
                f"{detail} (the channel's daily upload cap; wait 24 h)",
                86400.0,
                quota=DAILY_UPLOADS_QUOTA,
            )
        if status == 429 or (status == 403 and reason in RETRYABLE_REASONS):
            # Google's library retries these with backoff; to the engine this is a
            # wait (RateLimited), not a failure that should move to another layer.
            wait = self.retry_after(reply) or float(self.ctx.settings.get("rate_limit_wait", 60.0))
            return self.rate_limited(f"{detail} (short-term rate limit; retry in {wait:g} s)", wait)
        return super().error_for(reply, action)

    async def get_json(self, path: str, params: dict[str, str], action: str) -> dict[str, Any]:
        """GET ``{api}{path}`` and return its JSON object, raising typed errors."""
        return await self.json("GET", path, action=action, params=params)
