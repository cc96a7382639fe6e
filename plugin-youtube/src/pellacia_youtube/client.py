"""HTTP to the Google APIs and the mapping of their errors to ``pellacia.errors``.

Every call goes through ``YouTubeClient.send``: it adds the bearer token,
refreshes it once after a 401 and retries that request once, never follows
redirects (YouTube's 308 means "resume incomplete"), and turns network
failures into ``Transient``. ``raise_for`` maps an error reply to the typed
error the delivery engine acts on (protocols.md §1 Errors).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from pellacia.contract import PlatformContext
from pellacia.errors import AuthExpired, RateLimited, Rejected, Transient

PLATFORM = "youtube"
GOOGLE_API = "https://www.googleapis.com"
OAUTH_TOKEN_HOST = "https://oauth2.googleapis.com"
ACCOUNTS_HOST = "https://accounts.google.com"
PACIFIC = ZoneInfo("America/Los_Angeles")

DAILY_UNITS_QUOTA = "youtube:daily-units"
DAILY_UPLOADS_QUOTA = "youtube:daily-uploads"
#: reasons Google's client library retries (googleapiclient.http._should_retry_response)
RETRYABLE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})


@dataclass(frozen=True)
class Reply:
    """A finished HTTP exchange: status, headers and the (small) body."""

    status: int
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(default=b"", repr=False)

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None


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
    if not isinstance(data, dict):
        return "", ""
    error = data.get("error")
    if isinstance(error, str):  # OAuth endpoints: {"error": "invalid_grant", ...}
        return error, str(data.get("error_description") or "")
    if not isinstance(error, dict):
        return "", ""
    errors = error.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {}
    return str(first.get("reason") or ""), str(error.get("message") or first.get("message") or "")


def raise_for(reply: Reply, ctx: PlatformContext, action: str) -> None:
    """Raise the typed error for an error ``reply`` to ``action``; return if it is a success."""
    status = reply.status
    if status < 400:
        return
    reason, message = error_reason(reply)
    what = f"YouTube {action}: HTTP {status}" + (f" {reason}" if reason else "")
    detail = f"{what}: {message[:300]}" if message else what
    if status == 403 and reason == "quotaExceeded":
        reset = next_pacific_midnight(ctx.clock.now())
        raise RateLimited(
            f"{detail} (daily API units used up; resets at midnight Pacific)",
            platform=PLATFORM,
            reset_at=reset,
            retry_after=(reset - ctx.clock.now()).total_seconds(),
            quota=DAILY_UNITS_QUOTA,
        )
    if status == 400 and reason == "uploadLimitExceeded":
        raise RateLimited(
            f"{detail} (the channel's daily upload cap; wait 24 h)",
            platform=PLATFORM,
            retry_after=86400.0,
            reset_at=ctx.clock.now() + timedelta(hours=24),
            quota=DAILY_UPLOADS_QUOTA,
        )
    if status == 429 or (status == 403 and reason in RETRYABLE_REASONS):
        # Google's library retries these with backoff; to the engine this is a
        # wait (RateLimited), not a failure that should move to another layer.
        wait = _retry_after(reply) or float(ctx.settings.get("rate_limit_wait", 60.0))
        raise RateLimited(
            f"{detail} (short-term rate limit; retry in {wait:g} s)",
            platform=PLATFORM,
            retry_after=wait,
            reset_at=ctx.clock.now() + timedelta(seconds=wait),
        )
    if status >= 500:
        raise Transient(detail, platform=PLATFORM)
    if status == 401:
        raise AuthExpired(
            f"{detail}: the token was refused after a refresh; sign in again with "
            "`pellacia-dist auth login youtube`",
            platform=PLATFORM,
        )
    raise Rejected(detail, platform=PLATFORM)


def _retry_after(reply: Reply) -> float | None:
    """``Retry-After`` seconds when a front end sent one (YouTube itself does not)."""
    value = reply.headers.get("Retry-After", "")
    try:
        return max(1.0, float(value)) if value else None
    except ValueError:
        return None


#: a request body: bytes, or a factory of a fresh one-shot payload (so a
#: replay after a token refresh gets a new stream)
Body = bytes | Callable[[], Any] | None


class YouTubeClient:
    """Authenticated requests to the Google APIs for one operation of one account."""

    def __init__(self, ctx: PlatformContext) -> None:
        self.ctx = ctx
        self.api = ctx.endpoint(GOOGLE_API)
        #: refreshes done by this client (one per refused request at most)
        self.refreshes = 0

    async def _auth_header(self, *, fresh: bool = False) -> dict[str, str]:
        tokens = await (self.ctx.tokens.refresh() if fresh else self.ctx.tokens.current())
        return {"Authorization": f"Bearer {tokens.access_token}"}

    async def send(
        self,
        method: str,
        url: str,
        *,
        action: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Body = None,
    ) -> Reply:
        """One request, with one token refresh + retry after a 401.

        Returns the reply whatever its status (callers decide; ``raise_for``
        maps errors). Network trouble raises ``Transient(network=True)``.
        """
        auth = await self._auth_header()
        reply = await self._once(method, url, action, params, {**(headers or {}), **auth}, data)
        if reply.status == 401:
            self.refreshes += 1
            auth = await self._auth_header(fresh=True)
            reply = await self._once(method, url, action, params, {**(headers or {}), **auth}, data)
        return reply

    async def _once(
        self,
        method: str,
        url: str,
        action: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
        data: Body,
    ) -> Reply:
        payload = data() if callable(data) else data
        try:
            async with self.ctx.http.request(
                method, url, params=params, headers=headers, data=payload, allow_redirects=False
            ) as resp:
                body = await resp.read()
                return Reply(resp.status, dict(resp.headers), body)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Transient(
                f"YouTube {action}: network error ({type(exc).__name__})",
                platform=PLATFORM,
                network=True,
            ) from None

    async def get_json(self, path: str, params: Mapping[str, str], action: str) -> Any:
        """GET ``{api}{path}`` and return its JSON, raising typed errors."""
        reply = await self.send("GET", f"{self.api}{path}", action=action, params=params)
        raise_for(reply, self.ctx, action)
        data = reply.json()
        if not isinstance(data, dict):
            raise Transient(f"YouTube {action}: the answer is not JSON", platform=PLATFORM)
        return data
