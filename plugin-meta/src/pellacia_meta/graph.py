"""Meta's Graph API through ``pellacia.sdk.ApiClient``: error mapping and usage headers.

The SDK sends the token, refreshes once after a refused token and retries
once, and turns network failures into ``Transient`` (``OutcomeUnknown`` for
calls with effects). Graph refuses a dead token with code 190 (usually HTTP
400, not 401), so ``is_unauthorized`` reads the body. ``error_for`` maps
Graph error bodies (protocols.md §4):

- 190 → ``AuthExpired`` naming the re-login command;
- 4 / 17 / 32 / 613 (app, user, page limits) and BUC 80001 to 80014 →
  ``RateLimited`` until ``estimated_time_to_regain_access`` (minutes, in
  ``X-Business-Use-Case-Usage``; Graph sends no ``Retry-After``);
- 9 (a 24 h publishing limit; Instagram: 9/2207042) → ``RateLimited`` on that budget;
- 368 and the spam/policy blocks → ``Challenge``;
- ``is_transient``, codes 1/2, 5xx, ``debug_info.retriable`` → ``Transient``;
- media errors (2207xxx, 6000, 351 to 352, ...) and the rest → ``Rejected`` with Meta's message.

``UsageMeter`` reads ``X-App-Usage`` and ``X-Business-Use-Case-Usage`` on every
answer: from 90 % on, calls are spaced out; at 100 % (or while Meta says
access comes back later) the next call is not sent and ``RateLimited`` says
when to come back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode

from pellacia.contract import PlatformContext, TokenSet
from pellacia.errors import AuthExpired, Challenge, PlatformError, RateLimited, Rejected, Transient
from pellacia.log import redact_text
from pellacia.sdk import ApiClient, Reply

GRAPH = "https://graph.facebook.com"
WWW = "https://www.facebook.com"
VERSION = "v23.0"
DISPLAY = {"instagram": "Instagram", "facebook": "Facebook"}

RATE_CODES = frozenset({4, 17, 32, 613})
#: BUC throttling codes (80001 pages, 80002 instagram, 80004 to 80014 other use cases)
BUC_CODES = range(80001, 80015)
CHALLENGE_CODES = frozenset({368})
#: subcodes of blocks that need a person: the action is blocked as abusive or spam
CHALLENGE_SUBCODES = frozenset({1390008, 2207051})
TRANSIENT_CODES = frozenset({1, 2})
#: code 9: a publishing limit (Instagram: subcode 2207042), the platform's 24 h budget
PUBLISH_LIMIT_CODE = 9
PUBLISH_QUOTAS = {"instagram": "instagram:publish-24h", "facebook": "facebook:reels-24h"}
#: "media not ready yet" while a container still processes
NOT_READY = (9007, 2207027)
#: from this share of a Graph budget on, calls are spaced out
SLOW_PERCENT = 90
APP_LIMIT_WAIT_S = 600.0  # app limits slide over an hour; Meta names no time


def graph_error(reply: Reply) -> dict[str, Any]:
    """The ``error`` object of a Graph answer, or rupload's ``debug_info``; {} when none."""
    data = reply.json()
    if not isinstance(data, dict):
        return {}
    error = data.get("error")
    if isinstance(error, dict):
        return error
    debug = data.get("debug_info")
    if isinstance(debug, dict):
        return {"message": debug.get("message"), "type": debug.get("type"), "rupload": debug}
    return {}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def usage_of(reply: Reply) -> tuple[int, float]:
    """``(highest percent used, seconds until access comes back)`` from the usage headers."""
    percent, regain = 0, 0.0
    app = _json_header(reply, "X-App-Usage")
    if isinstance(app, dict):
        percent = max(_int(app.get(k)) for k in ("call_count", "total_cputime", "total_time"))
    for header in ("X-Business-Use-Case-Usage", "X-Page-Usage"):
        data = _json_header(reply, header)
        entries: list[Any] = []
        if isinstance(data, dict) and "call_count" in data:
            entries = [data]
        elif isinstance(data, dict):
            entries = [e for value in data.values() if isinstance(value, list) for e in value]
        for entry in entries:
            if isinstance(entry, dict):
                used = (_int(entry.get(k)) for k in ("call_count", "total_cputime", "total_time"))
                percent = max(percent, *used)
                regain = max(regain, 60.0 * _int(entry.get("estimated_time_to_regain_access")))
    return percent, regain


def _json_header(reply: Reply, name: str) -> Any:
    try:
        return json.loads(reply.headers.get(name, "") or "null")
    except ValueError:
        return None


@dataclass
class UsageMeter:
    """What the last answers said about the Graph budgets of one platform object."""

    percent: int = 0
    blocked_until: datetime | None = None

    def note(self, reply: Reply, now: datetime) -> None:
        percent, regain = usage_of(reply)
        if reply.headers.get("X-App-Usage") or reply.headers.get("X-Business-Use-Case-Usage"):
            self.percent = percent
        if regain > 0:
            self.blocked_until = now + timedelta(seconds=regain)

    async def before_call(self, ctx: PlatformContext, name: str) -> None:
        """Wait a little from 90 %; refuse (``RateLimited``) while Meta said to stay away."""
        now = ctx.clock.now()
        if self.blocked_until is not None and self.blocked_until > now:
            wait = (self.blocked_until - now).total_seconds()
            raise RateLimited(
                f"{name}: Meta asked to wait {wait:.0f} s before more calls",
                platform=ctx.platform,
                retry_after=wait,
                reset_at=self.blocked_until,
                quota=f"{ctx.platform}:graph-usage",
            )
        if self.percent >= 100:
            raise RateLimited(
                f"{name}: the Graph API budget is used up (100 %); waiting for it to slide",
                platform=ctx.platform,
                retry_after=APP_LIMIT_WAIT_S,
                reset_at=now + timedelta(seconds=APP_LIMIT_WAIT_S),
                quota=f"{ctx.platform}:graph-usage",
            )
        if self.percent >= SLOW_PERCENT:
            await ctx.clock.sleep(float(ctx.settings.get("usage_pause", 5.0)))


class GraphApi(ApiClient):
    """Graph calls for one operation of one account (Bearer token; rupload: ``OAuth``)."""

    base_url = GRAPH
    default_retry_after = APP_LIMIT_WAIT_S
    auth_scheme: ClassVar[str] = "Bearer"

    def __init__(self, ctx: PlatformContext, meter: UsageMeter | None = None) -> None:
        super().__init__(ctx)
        self.meter = meter or UsageMeter()

    @property
    def name(self) -> str:
        return DISPLAY.get(self.platform, self.platform)

    def auth_headers(self, tokens: TokenSet) -> dict[str, str]:
        return {"Authorization": f"{self.auth_scheme} {tokens.access_token}"}

    def is_unauthorized(self, reply: Reply) -> bool:
        return reply.status == 401 or _int(graph_error(reply).get("code")) == 190

    def is_error(self, reply: Reply) -> bool:
        return reply.status >= 400 or bool(graph_error(reply))

    def describe(self, reply: Reply) -> str:
        error = graph_error(reply)
        if not error:
            return ""
        code, sub = _int(error.get("code")), _int(error.get("error_subcode"))
        text = str(error.get("error_user_msg") or error.get("message") or "")
        tag = f"#{code}" + (f"/{sub}" if sub else "") if code else str(error.get("type") or "")
        trace = f" (fbtrace_id {error['fbtrace_id']})" if error.get("fbtrace_id") else ""
        return redact_text(f"({tag}) {text}{trace}")[:300]

    def error_for(self, reply: Reply, action: str) -> PlatformError:
        self.meter.note(reply, self.ctx.clock.now())
        error = graph_error(reply)
        code, sub = _int(error.get("code")), _int(error.get("error_subcode"))
        text = f"{self.name} {action}: HTTP {reply.status} {self.describe(reply)}".rstrip()
        if code == 190 or reply.status == 401:
            return AuthExpired(
                f"{text}; the Meta token was revoked or the password changed: sign in again "
                f"with `pellacia-dist auth login {self.platform} --account {self.ctx.account}`",
                platform=self.platform,
            )
        if code in RATE_CODES or code in BUC_CODES:
            _percent, regain = usage_of(reply)
            return self.rate_limited(
                text, regain or APP_LIMIT_WAIT_S, quota=f"{self.platform}:graph-usage"
            )
        if code == PUBLISH_LIMIT_CODE:  # the window slides: look again in an hour
            return self.rate_limited(text, 3600.0, quota=PUBLISH_QUOTAS.get(self.platform))
        if code in CHALLENGE_CODES or sub in CHALLENGE_SUBCODES:
            return Challenge(text, platform=self.platform)
        retriable = bool((error.get("rupload") or {}).get("retriable"))
        if error.get("is_transient") or code in TRANSIENT_CODES or retriable or reply.status >= 500:
            return Transient(text, platform=self.platform)
        if (code, sub) == NOT_READY:
            return Transient(text, platform=self.platform)
        return Rejected(text, platform=self.platform)

    async def before_call(self, action: str) -> None:
        """Slow down from 90 % of a Graph usage budget; wait at 100 %."""
        await self.meter.before_call(self.ctx, f"{self.name} {action}")

    def after_reply(self, reply: Reply) -> None:
        """Record the usage headers of every answer."""
        self.meter.note(reply, self.ctx.clock.now())

    # ------------------------------------------------------------ helpers

    @staticmethod
    def path(*parts: str) -> str:
        """``/{VERSION}/a/b``."""
        return "/" + "/".join((VERSION, *parts))

    async def get(self, *parts: str, action: str, **query: str) -> dict[str, Any]:
        """GET a node or edge; the JSON object."""
        return await self.json("GET", self.path(*parts), action=action, params=query or None)

    async def post(
        self, *parts: str, action: str, form: Mapping[str, str], idempotent: bool = True
    ) -> dict[str, Any]:
        """POST a form to a node or edge (fields in the body: captions stay out of URLs)."""
        return await self.json(
            "POST",
            self.path(*parts),
            action=action,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            data=urlencode(dict(form)).encode(),
            idempotent=idempotent,
        )


class RuploadApi(GraphApi):
    """The rupload host wants ``Authorization: OAuth <token>``, not Bearer."""

    auth_scheme = "OAuth"
