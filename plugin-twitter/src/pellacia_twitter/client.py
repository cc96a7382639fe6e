"""X API v2 through ``pellacia.sdk.ApiClient``, and its error mapping.

The SDK adds the bearer token, refreshes once after a 401 and retries once,
and turns network failures into ``Transient`` (``OutcomeUnknown`` for calls
with effects). ``XApi.error_for`` reads X's problem+json bodies
(``{"title", "detail", "type": "https://api.x.com/2/problems/<kind>"}``) and
the legacy ``errors[]`` (protocols.md §5):

- ``usage-capped`` (the project's spend or usage cap) → ``RateLimited`` on the
  ``twitter:usage-cap`` quota until the period ends (next month, next UTC day);
- any other 429 (``rate-limit-exceeded``, ``about:blank``, code 88) →
  ``RateLimited`` until ``x-rate-limit-reset`` (epoch seconds), else
  ``Retry-After``, else the 15-minute window;
- 401 after the SDK's refresh → ``AuthExpired``;
- 403 ``client-forbidden``: the app is not enrolled (``client-not-enrolled``:
  attach it to a project) → ``Rejected``; any 403 saying the account is locked,
  suspended or suspected of automation → ``Challenge``; other 403s (duplicate
  content, ...) → ``Rejected``;
- 5xx → ``Transient``; other 4xx → ``Rejected``.

A 200 may carry ``errors[]`` beside ``data`` (partial success): ``is_error``
is true only when there is no ``data`` at all; callers read ``problems(...)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pellacia.errors import AuthExpired, Challenge, PlatformError, RateLimited, Rejected
from pellacia.log import redact_text
from pellacia.sdk import ApiClient, Reply

PLATFORM = "twitter"
API_BASE = "https://api.x.com"
AUTH_BASE = "https://x.com"
WINDOW_S = 15 * 60.0  # X's rate-limit windows are 15 minutes
USAGE_CAP_QUOTA = "twitter:usage-cap"
#: words of a 403 that mean "a person must look at this account"
_CHALLENGE_WORDS = ("locked", "suspended", "automated", "spam", "verify", "restricted")


def problem_kind(problem: Mapping[str, Any]) -> str:
    """``usage-capped`` from ``https://api.x.com/2/problems/usage-capped`` (``""`` if none)."""
    kind = str(problem.get("type") or "")
    return kind.rsplit("/", 1)[-1] if "/problems/" in kind else ""


def problems(reply: Reply) -> list[dict[str, Any]]:
    """Every problem object of ``reply``: the body itself when it is one, and ``errors[]``."""
    data = reply.json()
    if not isinstance(data, dict):
        return []
    found = [e for e in data.get("errors") or () if isinstance(e, dict)]
    if "type" in data or "title" in data or "detail" in data:
        found.insert(0, data)
    return found


def next_period_start(now: datetime, period: str) -> datetime:
    """When a usage cap of ``period`` (``Monthly``, ``Daily``) resets after ``now`` (UTC)."""
    now = now.astimezone(UTC)
    if period.lower().startswith("day"):
        return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


class XApi(ApiClient):
    """Authorized calls to X for one operation of one account."""

    display_name = "X"
    base_url = API_BASE
    default_retry_after = WINDOW_S

    def is_error(self, reply: Reply) -> bool:
        if reply.status >= 400:
            return True
        data = reply.json()
        # partial success: errors[] beside data is a success the caller inspects
        return isinstance(data, dict) and bool(data.get("errors")) and "data" not in data

    def describe(self, reply: Reply) -> str:
        texts = []
        for problem in problems(reply)[:2]:
            kind = problem_kind(problem)
            detail = problem.get("detail") or problem.get("message") or problem.get("title") or ""
            texts.append(": ".join(p for p in (kind, str(detail)) if p))
        return redact_text("; ".join(t for t in texts if t))[:300]

    def error_for(self, reply: Reply, action: str) -> PlatformError:
        found = problems(reply)
        kinds = {problem_kind(p) for p in found}
        text = f"X {action}: HTTP {reply.status}: {self.describe(reply)}".rstrip(": ")
        if "usage-capped" in kinds:
            return self._usage_capped(reply, text, found)
        if reply.status == 429 or "rate-limit-exceeded" in kinds or _has_code(found, 88):
            return self._rate_limited(reply, text, action)
        if reply.status == 401:
            return AuthExpired(
                f"{text} (refused after a token refresh; sign in again with "
                "`pellacia-dist auth login twitter`)",
                platform=PLATFORM,
            )
        if reply.status == 403 or "client-forbidden" in kinds:
            return self._forbidden(text, found, kinds)
        if reply.status < 400:  # a 200 holding only errors[]: the request itself was refused
            return Rejected(text, platform=PLATFORM)
        return super().error_for(reply, action)

    def _usage_capped(self, reply: Reply, text: str, found: list[dict[str, Any]]) -> RateLimited:
        now = self.ctx.clock.now()
        period = next((str(p["period"]) for p in found if p.get("period")), "Monthly")
        reset = next_period_start(now, period)
        return RateLimited(
            f"{text} (X's {period.lower()} usage cap of the project is reached; "
            "raise it in the developer console or wait)",
            platform=PLATFORM,
            retry_after=(reset - now).total_seconds(),
            reset_at=reset,
            quota=USAGE_CAP_QUOTA,
        )

    def _rate_limited(self, reply: Reply, text: str, action: str) -> RateLimited:
        reset = reply.headers.get("x-rate-limit-reset", "").strip()
        now = self.ctx.clock.now()
        if reset.isdigit():
            until = datetime.fromtimestamp(int(reset), tz=UTC)
            wait = max(1.0, (until - now).total_seconds())
        else:
            wait = self.retry_after(reply) or WINDOW_S
        return self.rate_limited(text, wait, quota=f"twitter:{_bucket(action)}")

    @staticmethod
    def _forbidden(text: str, found: list[dict[str, Any]], kinds: set[str]) -> PlatformError:
        reasons = {str(p.get("reason") or "") for p in found}
        if "client-not-enrolled" in reasons:
            return Rejected(
                f"{text} (the X app must belong to a project with API access: attach it in "
                "the developer console)",
                platform=PLATFORM,
            )
        words = " ".join(str(p.get("detail") or p.get("message") or "") for p in found).lower()
        if any(w in words for w in _CHALLENGE_WORDS) or "client-forbidden" in kinds:
            return Challenge(f"{text} (a person must check the X account)", platform=PLATFORM)
        return Rejected(text, platform=PLATFORM)

    # ----------------------------------------------------------- calls

    async def get(self, path: str, params: Mapping[str, str], *, action: str) -> dict[str, Any]:
        """GET ``path``; the JSON object (``errors[]`` beside ``data`` left to the caller)."""
        return await self.json("GET", path, action=action, params=dict(params))

    async def me(self) -> dict[str, Any]:
        """The signed-in user: ``{"id", "username", "name"}``."""
        body = await self.get("/2/users/me", {}, action="user lookup")
        data = body.get("data")
        if not isinstance(data, dict) or not data.get("id"):
            raise Rejected("X user lookup: no user in the answer", platform=PLATFORM)
        return data


def _has_code(found: list[dict[str, Any]], code: int) -> bool:
    return any(p.get("code") == code for p in found)


def _bucket(action: str) -> str:
    """The rate-limit window an action counts against (names the quota of a 429)."""
    if action.startswith("media"):
        return "media-15min"
    if action == "post":
        return "posts-15min"
    return "reads-15min"


def post_url(post_id: str, username: str | None = None) -> str:
    """The public URL of a post (``/i/web/status/`` works without the handle)."""
    return f"https://x.com/{username or 'i/web'}/status/{post_id}"
