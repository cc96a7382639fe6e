"""What every platform fake is: ``FakePlatform``, plus a shared OAuth token store.

A fake serves the real API's paths under ``/<name>/`` of the sandbox host: the
TikTok call ``https://open.tiktokapis.com/v2/post/publish/video/init/`` becomes
``{base_url}/tiktok/v2/post/publish/video/init/`` (plugins compute that prefix
with ``PlatformContext.endpoint``). The host applies fault injection before a
fake's handlers run, and records every request (``requests`` in ``state``), so
fakes only implement the platform's happy and native-error behaviour.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

if TYPE_CHECKING:
    from pellacia_sandbox.clock import SandboxClock
    from pellacia_sandbox.host import SandboxHost

#: the fault kinds a fake renders itself, in its own error shape
NATIVE_ERROR_KINDS: tuple[str, ...] = ("server_error", "rate_limit", "quota", "auth", "challenge")


class FakePlatform(ABC):
    """One platform's fake API, mounted by ``SandboxHost`` as a sub-application.

    Subclasses set ``name`` (the URL prefix, equal to the platform's name in
    pellacia-dist) and implement ``setup``, ``reset``, ``snapshot`` and
    ``native_error``. Time comes from ``self.clock`` only.
    """

    name: str = ""

    def __init__(self, host: SandboxHost) -> None:
        if not self.name:
            raise TypeError(f"{type(self).__name__} must set a class attribute 'name'")
        self.host = host
        #: every request the host routed to this fake: method, path, status
        self.requests: list[dict[str, Any]] = []

    @property
    def clock(self) -> SandboxClock:
        """The host's clock (real time plus what the control API advanced)."""
        return self.host.clock

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/<name>``: where this fake's API is served."""
        return f"{self.host.base_url}/{self.name}"

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` (starting with ``/``) on this fake."""
        return f"{self.host.base_url}/{self.name}{path}"

    @abstractmethod
    def setup(self, app: web.Application) -> None:
        """Add the fake's routes to ``app`` (its own sub-application)."""

    @abstractmethod
    def reset(self) -> None:
        """Forget every post, upload and token: back to a fresh platform."""

    @abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """JSON-able state for tests: at least ``{"posts": [...], "uploads": [...]}``.

        Each post has at least ``id``, ``title`` or ``caption``, ``account`` and
        ``bytes`` (media bytes received for it); each upload its ``id`` and
        ``bytes_received`` (every byte that arrived, re-sent ones included).
        """

    @abstractmethod
    def native_error(self, kind: str, **params: Any) -> web.Response:
        """The platform's own error response for a fault ``kind``.

        Kinds: ``server_error`` (5xx), ``rate_limit`` (``retry_after`` seconds
        in params; set the platform's own headers/fields), ``quota``, ``auth``
        (expired/invalid token), ``challenge`` (ban risk, captcha, spam flag).
        """

    def expire_tokens(self) -> None:
        """Make every issued access token invalid: the next call gets a native 401.

        The default expires the tokens of ``self.tokens`` when the fake has one.
        """
        store = getattr(self, "tokens", None)
        if isinstance(store, TokenStore):
            store.expire_all()

    def clear_requests(self) -> None:
        """Forget the request log (the host does this on reset)."""
        self.requests.clear()


# ------------------------------------------------------------------ tokens


class TokenError(Exception):
    """A grant the token store refuses; ``reason`` is an OAuth error code."""

    def __init__(self, reason: str, description: str = "") -> None:
        super().__init__(description or reason)
        self.reason = reason
        self.description = description or reason


@dataclass
class Grant:
    """Who a token belongs to."""

    account: str
    client_id: str
    scopes: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class IssuedTokens:
    """What a token endpoint answers with (fakes render it in their own shape)."""

    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    grant: Grant


@dataclass
class _Token:
    grant: Grant
    expires_at: float  # sandbox unix time
    kind: str  # "access" | "refresh" | "code"
    redirect_uri: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None


def pkce_challenge(verifier: str) -> str:
    """S256 code challenge of a PKCE verifier (base64url, no padding)."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class TokenStore:
    """OAuth codes, access and refresh tokens of one fake, timed by the sandbox clock.

    ``rotate_refresh``: a refresh returns a new refresh token and invalidates
    the old one (TikTok and X do this; Google does not).
    """

    def __init__(
        self,
        clock: SandboxClock,
        *,
        access_ttl: float = 3600.0,
        refresh_ttl: float = 365 * 86400.0,
        code_ttl: float = 600.0,
        rotate_refresh: bool = False,
        prefix: str = "sbx",
    ) -> None:
        self.clock = clock
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.code_ttl = code_ttl
        self.rotate_refresh = rotate_refresh
        self.prefix = prefix
        self._tokens: dict[str, _Token] = {}
        #: counters for tests: how many codes were redeemed, refreshes done
        self.stats = {"codes": 0, "exchanges": 0, "refreshes": 0}

    def _new(self, kind: str) -> str:
        return f"{self.prefix}.{kind[0]}.{secrets.token_urlsafe(18)}"

    def issue_code(
        self,
        *,
        client_id: str,
        redirect_uri: str | None,
        scopes: Sequence[str] = (),
        code_challenge: str | None = None,
        code_challenge_method: str | None = "S256",
        account: str = "sandbox-account",
    ) -> str:
        """An authorization code (what the auto-approving authorize page hands out)."""
        code = self._new("code")
        self._tokens[code] = _Token(
            grant=Grant(account=account, client_id=client_id, scopes=tuple(scopes)),
            expires_at=self.clock.time() + self.code_ttl,
            kind="code",
            redirect_uri=redirect_uri,
            code_challenge=code_challenge,
            code_challenge_method=code_challenge_method,
        )
        self.stats["codes"] += 1
        return code

    def redeem_code(
        self,
        code: str,
        *,
        client_id: str,
        redirect_uri: str | None = None,
        code_verifier: str | None = None,
    ) -> IssuedTokens:
        """Trade a code for tokens, checking client, redirect URI and PKCE."""
        token = self._tokens.pop(code, None)
        if token is None or token.kind != "code" or token.expires_at <= self.clock.time():
            raise TokenError("invalid_grant", "authorization code is invalid or expired")
        if token.grant.client_id != client_id:
            raise TokenError("invalid_client", "client_id does not match the code")
        if token.redirect_uri and redirect_uri and token.redirect_uri != redirect_uri:
            raise TokenError("invalid_grant", "redirect_uri does not match")
        if token.code_challenge:
            if not code_verifier:
                raise TokenError("invalid_grant", "code_verifier missing")
            expected = (
                pkce_challenge(code_verifier)
                if (token.code_challenge_method or "S256").upper() == "S256"
                else code_verifier
            )
            if expected != token.code_challenge:
                raise TokenError("invalid_grant", "code_verifier does not match the challenge")
        self.stats["exchanges"] += 1
        return self.issue(token.grant)

    def issue(self, grant: Grant) -> IssuedTokens:
        """New access + refresh tokens for ``grant``."""
        now = self.clock.time()
        access, refresh = self._new("access"), self._new("refresh")
        self._tokens[access] = _Token(grant, now + self.access_ttl, "access")
        self._tokens[refresh] = _Token(grant, now + self.refresh_ttl, "refresh")
        return IssuedTokens(
            access_token=access,
            refresh_token=refresh,
            expires_in=int(self.access_ttl),
            refresh_expires_in=int(self.refresh_ttl),
            grant=grant,
        )

    def refresh(self, refresh_token: str, *, client_id: str | None = None) -> IssuedTokens:
        """New access token from a refresh token (rotating it if configured)."""
        token = self._tokens.get(refresh_token)
        if token is None or token.kind != "refresh" or token.expires_at <= self.clock.time():
            raise TokenError("invalid_grant", "refresh token is invalid or expired")
        if client_id is not None and token.grant.client_id != client_id:
            raise TokenError("invalid_client", "client_id does not match the token")
        self.stats["refreshes"] += 1
        if self.rotate_refresh:
            del self._tokens[refresh_token]
            return self.issue(token.grant)
        now = self.clock.time()
        access = self._new("access")
        self._tokens[access] = _Token(token.grant, now + self.access_ttl, "access")
        return IssuedTokens(
            access_token=access,
            refresh_token=refresh_token,
            expires_in=int(self.access_ttl),
            refresh_expires_in=int(token.expires_at - now),
            grant=token.grant,
        )

    def validate(self, access_token: str) -> Grant | None:
        """The grant of a live access token, else None."""
        token = self._tokens.get(access_token)
        if token is None or token.kind != "access" or token.expires_at <= self.clock.time():
            return None
        return token.grant

    def bearer(self, request: web.Request) -> Grant | None:
        """The grant of the request's ``Authorization: Bearer`` token, else None."""
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        return self.validate(value.strip())

    def revoke(self, token: str) -> None:
        """Forget one token (access or refresh)."""
        self._tokens.pop(token, None)

    def expire_all(self) -> None:
        """Expire every access token now (refresh tokens keep working)."""
        now = self.clock.time()
        for token in self._tokens.values():
            if token.kind == "access":
                token.expires_at = min(token.expires_at, now)

    def reset(self) -> None:
        """Forget everything."""
        self._tokens.clear()
        self.stats = {"codes": 0, "exchanges": 0, "refreshes": 0}

    def live_access_tokens(self) -> int:
        """How many access tokens are still valid (for snapshots)."""
        now = self.clock.time()
        return sum(1 for t in self._tokens.values() if t.kind == "access" and t.expires_at > now)


def authorize_redirect(
    request: web.Request,
    store: TokenStore,
    *,
    account: str = "sandbox-account",
    scope_separator: str = ",",
) -> web.Response:
    """An auto-approving OAuth authorize page: 302 to ``redirect_uri`` with ``code`` and ``state``.

    Reads the standard query parameters (``client_id`` or TikTok's
    ``client_key``, ``redirect_uri``, ``scope``, ``state``, ``code_challenge``,
    ``code_challenge_method``). A missing client or redirect URI is a 400.
    ``scope_separator`` is accepted for compatibility; both separators are understood.
    """
    query = request.query
    client_id = query.get("client_id") or query.get("client_key")
    redirect_uri = query.get("redirect_uri")
    if not client_id or not redirect_uri:
        return web.json_response(
            {"error": "invalid_request", "error_description": "client_id and redirect_uri needed"},
            status=400,
        )
    # Platforms separate scopes with commas (TikTok) or spaces (OAuth standard): take both.
    scopes = [s for s in re.split(r"[,\s]+", query.get("scope", "")) if s]
    code = store.issue_code(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scopes=scopes,
        code_challenge=query.get("code_challenge"),
        code_challenge_method=query.get("code_challenge_method", "S256"),
        account=query.get("login_hint") or account,
    )
    params = {"code": code}
    if "state" in query:
        params["state"] = query["state"]
    sep = "&" if "?" in redirect_uri else "?"
    return web.Response(status=302, headers={"Location": f"{redirect_uri}{sep}{urlencode(params)}"})
