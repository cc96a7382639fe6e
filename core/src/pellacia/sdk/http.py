"""The authorized request: one HTTP call to a platform's API, errors typed.

``ApiClient.request`` adds the account's bearer token, refreshes it **once**
after a 401 and retries once (the only place refresh-on-401 lives; a second
time only when that refresh adopted tokens another worker had stored, which a
platform may have revoked with ours), never
follows redirects (an upload's 308 is an answer), and turns what went wrong
into ``pellacia.errors``:

- network errors (connection refused or reset, timeouts) → ``Transient(network=True)``;
  for a call with effects (``idempotent=False``) whose request may have gone
  out, ``OutcomeUnknown`` instead;
- 429 → ``RateLimited`` (``Retry-After`` in seconds or as a date, else
  ``default_retry_after``); 5xx → ``Transient``; 401 after the refresh →
  ``AuthExpired``; other 4xx → ``Rejected``.

A plugin subclasses ``ApiClient`` to name itself and to read its platform's
error bodies: ``status_errors`` maps a status to an error class, and
``error_for`` (override, call ``super()`` for the defaults) maps a reply.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from pellacia.contract import PlatformContext, TokenSet
from pellacia.errors import (
    AuthExpired,
    OutcomeUnknown,
    PlatformError,
    RateLimited,
    Rejected,
    Transient,
)
from pellacia.log import redact_text

#: a request body: bytes, or a factory of a fresh one-shot payload (a stream),
#: called once per attempt so the retry after a refresh sends it again
Body = bytes | Callable[[], Any] | None

#: what a lost connection looks like from aiohttp
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientError,
    TimeoutError,
    ConnectionError,
)


@dataclass(frozen=True)
class Reply:
    """A finished HTTP exchange: status, headers (case-insensitive) and the body."""

    status: int
    headers: CIMultiDictProxy[str] = field(repr=False)
    body: bytes = field(default=b"", repr=False)

    @classmethod
    def of(cls, status: int, headers: Mapping[str, str] | None = None, body: bytes = b"") -> Reply:
        return cls(status, CIMultiDictProxy(CIMultiDict(headers or {})), body)

    def json(self) -> Any:
        """The body parsed as JSON; ``None`` when it is empty or not JSON."""
        try:
            return jsonlib.loads(self.body or b"null")
        except ValueError:
            return None


class ApiClient:
    """Authorized requests to one platform for one operation of one account.

    Class attributes a subclass sets: ``display_name`` (for messages),
    ``base_url`` (the real API base; paths starting with ``/`` are resolved
    against ``ctx.endpoint(base_url)``), ``status_errors`` and
    ``default_retry_after``.
    """

    display_name: ClassVar[str] = ""
    base_url: ClassVar[str] = ""
    #: error class per HTTP status, consulted before the defaults
    status_errors: ClassVar[Mapping[int, type[PlatformError]]] = {}
    #: seconds to wait after a 429 that names no time
    default_retry_after: ClassVar[float] = 60.0
    #: send URLs exactly as built (already percent-encoded): aiohttp would
    #: otherwise requote them, turning e.g. ``%3A`` back into ``:``
    encoded_urls: ClassVar[bool] = False

    def __init__(self, ctx: PlatformContext) -> None:
        self.ctx = ctx
        #: forced refreshes after a 401 (one per refused request; two when the
        #: first adopted another worker's tokens)
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(platform={self.ctx.platform!r})"

    # ------------------------------------------------------------ naming

    @property
    def platform(self) -> str:
        return self.ctx.platform

    @property
    def name(self) -> str:
        """How messages name the platform."""
        return self.display_name or self.ctx.platform

    @property
    def api(self) -> str:
        """The API base: the real one, or the sandbox's fake of it."""
        return self.ctx.endpoint(self.base_url)

    def url(self, path: str) -> str:
        """``path`` resolved against ``api`` unless it is already absolute."""
        return path if "://" in path else f"{self.api}{path}"

    # ------------------------------------------------------------- hooks

    def auth_headers(self, tokens: TokenSet) -> dict[str, str]:
        """Headers that authorize a request; override for another scheme (an API-key header)."""
        return {"Authorization": f"Bearer {tokens.access_token}"}

    def common_headers(self) -> Mapping[str, str]:
        """Headers every call carries (an API version...); a call's own headers win."""
        return {}

    async def before_call(self, action: str) -> None:
        """Called before each request: pace the calls (usage headers seen so far...)."""

    def after_reply(self, reply: Reply) -> None:
        """Called with every reply, the one refused before a refresh too (usage headers...)."""

    def is_error(self, reply: Reply) -> bool:
        """Whether ``reply`` failed; override for APIs that answer errors with 200."""
        return reply.status >= 400

    def is_unauthorized(self, reply: Reply) -> bool:
        """Whether ``reply`` refused the token (then: one refresh, one retry)."""
        return reply.status == 401

    def describe(self, reply: Reply) -> str:
        """A short, secret-free text of a platform's error body (empty when none)."""
        data = reply.json()
        if not isinstance(data, dict):
            return ""
        error = data.get("error")
        if isinstance(error, dict):
            text = error.get("message") or error.get("code") or ""
        else:
            text = data.get("error_description") or data.get("message") or error or ""
        return redact_text(str(text))[:300]

    def retry_after(self, reply: Reply) -> float | None:
        """Seconds from ``Retry-After`` (a number or an HTTP date), if the reply has one."""
        value = reply.headers.get("Retry-After", "").strip()
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - self.ctx.clock.now()).total_seconds())

    def error_for(self, reply: Reply, action: str) -> PlatformError:
        """The typed error for a failed ``reply`` to ``action``.

        Override to read the platform's error body; return ``super().error_for(...)``
        for what you do not handle.
        """
        status = reply.status
        detail = self.describe(reply)
        text = f"{self.name} {action}: HTTP {status}" + (f": {detail}" if detail else "")
        custom = self.status_errors.get(status)
        if custom is not None:
            return custom(text, platform=self.platform)
        if status == 429:
            return self.rate_limited(text, self.retry_after(reply))
        if status == 401:
            return AuthExpired(
                f"{text} (refused after a token refresh; sign in again with "
                f"`pellacia-dist auth login {self.platform}`)",
                platform=self.platform,
            )
        if status >= 500 or status < 400:
            return Transient(text, platform=self.platform)
        return Rejected(text, platform=self.platform)

    def rate_limited(
        self, text: str, wait: float | None, *, quota: str | None = None
    ) -> RateLimited:
        """``RateLimited`` for ``wait`` seconds (``default_retry_after`` when None)."""
        seconds = self.default_retry_after if wait is None else wait
        reset: datetime = self.ctx.clock.now() + timedelta(seconds=seconds)
        return RateLimited(
            text, platform=self.platform, retry_after=seconds, reset_at=reset, quota=quota
        )

    # ----------------------------------------------------------- calling

    async def request(
        self,
        method: str,
        url: str,
        *,
        action: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: Body = None,
        auth: bool = True,
        accept: Container[int] = (),
        idempotent: bool = True,
        time_limit: float | None = None,
    ) -> Reply:
        """One call: bearer token, one refresh + retry after a 401, errors typed.

        Returns the reply when it succeeded or its status is in ``accept``;
        raises ``error_for(reply)`` otherwise. ``action`` names the call in
        messages ("upload chunk"). ``idempotent=False``: the call has effects,
        so an answer lost after the request went out is ``OutcomeUnknown``.
        ``time_limit``: seconds for the whole call (default: the session's).
        """
        target = self.url(url)
        sent = {**self.common_headers(), **(headers or {})}
        await self.before_call(action)
        reply = await self._once(
            method, target, action, params, sent, json, data, auth, idempotent, time_limit
        )
        self.after_reply(reply)
        for _ in range(2):
            if not (auth and self.is_unauthorized(reply) and reply.status not in accept):
                break
            self.refreshes += 1
            await self.ctx.tokens.refresh()
            reply = await self._once(
                method, target, action, params, sent, json, data, auth, idempotent, time_limit
            )
            self.after_reply(reply)
            # adopted tokens (another worker's refresh) may be revoked too: once more
            if not getattr(self.ctx.tokens, "refresh_adopted", False):
                break
        if reply.status in accept or not self.is_error(reply):
            return reply
        raise self.error_for(reply, action)

    async def json(self, method: str, url: str, *, action: str, **kwargs: Any) -> dict[str, Any]:
        """``request`` and the reply's JSON object (``Transient`` when it is not one)."""
        reply = await self.request(method, url, action=action, **kwargs)
        data = reply.json()
        if not isinstance(data, dict):
            raise Transient(
                f"{self.name} {action}: the answer is not a JSON object", platform=self.platform
            )
        return data

    async def _once(
        self,
        method: str,
        url: str,
        action: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        json: Any,
        data: Body,
        auth: bool,
        idempotent: bool,
        time_limit: float | None,
    ) -> Reply:
        sent = dict(headers or {})
        if auth:
            sent.update(self.auth_headers(await self.ctx.tokens.current()))
        options: dict[str, Any] = {"params": params, "headers": sent, "allow_redirects": False}
        if json is not None:
            options["json"] = json
        else:
            options["data"] = data() if callable(data) else data
        if time_limit is not None:
            options["timeout"] = aiohttp.ClientTimeout(total=time_limit)
        target: str | URL = URL(url, encoded=True) if self.encoded_urls else url
        try:
            async with self.ctx.http.request(method, target, **options) as resp:
                return Reply(
                    resp.status, CIMultiDictProxy(CIMultiDict(resp.headers)), await resp.read()
                )
        except aiohttp.ClientConnectorError as exc:  # never reached the platform
            raise self.network_error(action, exc, may_have_arrived=False) from None
        except NETWORK_ERRORS as exc:
            raise self.network_error(action, exc, may_have_arrived=not idempotent) from None

    def network_error(
        self, action: str, exc: BaseException, *, may_have_arrived: bool
    ) -> PlatformError:
        """``Transient(network=True)``, or ``OutcomeUnknown`` when a call with effects may have landed."""
        what = type(exc).__name__
        if may_have_arrived:
            return OutcomeUnknown(
                f"{self.name} {action}: the request was sent but its answer was lost ({what}); "
                "reconcile before repeating it",
                platform=self.platform,
            )
        return Transient(
            f"{self.name} {action}: network error ({what})", platform=self.platform, network=True
        )
