"""TikTok Login Kit: OAuth 2.0 authorization code with PKCE, and token refresh.

Scopes, the fewest that do the job:

- ``video.publish``: Direct Post init and ``creator_info/query`` (posting itself);
- ``video.upload``: inbox (draft) uploads, ``options["mode"] = "inbox"``;
- ``video.list``: ``video/list`` (reconcile: find a post that already went out)
  and ``video/query`` (metrics);
- ``user.info.basic``: the account's open_id and name, to tell accounts apart.

Access tokens live about 2 h, refresh tokens 180 days and are **rotated**: each
refresh returns a new refresh token that must replace the old one (kept here in
the returned ``TokenSet``; core persists it). Lifetimes come from
``expires_in`` / ``refresh_expires_in``, never hard-coded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp
from pellacia.contract import OAuthClient, PlatformContext, TokenSet
from pellacia.errors import AuthExpired, ConfigError, Transient

from pellacia_tiktok.client import API_BASE, AUTH_BASE, PLATFORM, read_error

SCOPES: tuple[str, ...] = ("user.info.basic", "video.publish", "video.upload", "video.list")


class TikTokAuth:
    """``AuthFlow`` of TikTok (``pellacia.contract.AuthFlow``)."""

    scopes: Sequence[str] = SCOPES

    def authorization_url(
        self,
        ctx: PlatformContext,
        *,
        client: OAuthClient,
        redirect_uri: str,
        state: str,
        code_challenge: str,
    ) -> str:
        """The Login Kit page the user opens (S256 PKCE)."""
        query = urlencode(
            {
                "client_key": client.client_id,
                "scope": ",".join(self.scopes),
                "redirect_uri": redirect_uri,
                "state": state,
                "response_type": "code",
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{ctx.endpoint(AUTH_BASE)}/v2/auth/authorize/?{query}"

    async def exchange_code(
        self,
        ctx: PlatformContext,
        *,
        client: OAuthClient,
        code: str,
        redirect_uri: str,
        code_verifier: str,
    ) -> TokenSet:
        """Trade the authorization code (and PKCE verifier) for tokens."""
        form = {
            "client_key": client.client_id,
            "client_secret": _secret(client),
            "code": code,
            "grant_type": "authorization_code",
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        return _token_set(ctx, await _token_call(ctx, form, what="code exchange"), previous=None)

    async def refresh(
        self, ctx: PlatformContext, *, client: OAuthClient, tokens: TokenSet
    ) -> TokenSet:
        """New tokens; the rotated refresh token replaces the old one."""
        if not tokens.refresh_token:
            raise AuthExpired("TikTok: no refresh token stored; sign in again", platform=PLATFORM)
        form = {
            "client_key": client.client_id,
            "client_secret": _secret(client),
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token,
        }
        return _token_set(ctx, await _token_call(ctx, form, what="token refresh"), previous=tokens)


def _secret(client: OAuthClient) -> str:
    if not client.client_secret:
        raise ConfigError("TikTok needs the app's client secret (client_key + client_secret)")
    return client.client_secret


async def _token_call(
    ctx: PlatformContext, form: Mapping[str, str], *, what: str
) -> dict[str, Any]:
    url = f"{ctx.endpoint(API_BASE)}/v2/oauth/token/"
    try:
        async with ctx.http.post(url, data=dict(form), allow_redirects=False) as resp:
            if resp.status == 200:
                payload = await resp.json(content_type=None)
                if isinstance(payload, dict) and payload.get("access_token"):
                    return payload
            err = await read_error(resp)
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        raise Transient(
            f"TikTok {what}: connection lost ({type(exc).__name__})",
            platform=PLATFORM,
            network=True,
        ) from None
    if err.status >= 500:
        raise Transient(f"TikTok {what} failed: HTTP {err.status} {err.code}", platform=PLATFORM)
    # refused: revoked, expired, rotated away, wrong client. Only the code is quoted.
    raise AuthExpired(
        f"TikTok {what} refused: {err.code} (log_id {err.log_id or '-'})", platform=PLATFORM
    )


def _token_set(
    ctx: PlatformContext, payload: Mapping[str, Any], *, previous: TokenSet | None
) -> TokenSet:
    now = ctx.clock.now()
    expires_in = payload.get("expires_in")
    refresh_in = payload.get("refresh_expires_in")
    scope = str(payload.get("scope") or "")
    extra = dict(previous.extra) if previous else {}
    if payload.get("open_id"):
        extra["open_id"] = payload["open_id"]
    return TokenSet(
        access_token=str(payload["access_token"]),
        refresh_token=str(
            payload.get("refresh_token") or (previous.refresh_token if previous else "")
        )
        or None,
        expires_at=now + timedelta(seconds=float(expires_in)) if expires_in else None,
        refresh_expires_at=now + timedelta(seconds=float(refresh_in)) if refresh_in else None,
        scopes=tuple(s for s in scope.replace(" ", ",").split(",") if s)
        or (previous.scopes if previous else ()),
        extra=extra,
    )
