"""Google OAuth 2.0 (authorization code + PKCE) for a YouTube channel.

Scopes, each for one job (the least that works):
- ``youtube.upload``: ``videos.insert``, the resumable upload;
- ``youtube.readonly``: processing status, statistics and the channel's uploads
  list (``reconcile``), all through ``videos.list`` / ``playlistItems.list``;
- ``yt-analytics.readonly``: YouTube Analytics reports (watch time).

``access_type=offline`` makes Google return a refresh token and
``prompt=consent`` makes it return a new one on every sign-in. Refresh tokens
are not rotated: the old one is kept when a refresh answer has none.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp
from pellacia.contract import OAuthClient, PlatformContext, TokenSet
from pellacia.errors import AuthExpired, Rejected, Transient

from pellacia_youtube.client import ACCOUNTS_HOST, OAUTH_TOKEN_HOST, PLATFORM, Reply, error_reason

SCOPES: tuple[str, ...] = (
    "https://www.googleapis.com/auth/youtube.upload",
    "https://www.googleapis.com/auth/youtube.readonly",
    "https://www.googleapis.com/auth/yt-analytics.readonly",
)

TESTING_HINT = (
    "Google refused the refresh token (invalid_grant). If the app's OAuth consent "
    "screen is External and still in 'Testing', refresh tokens expire after 7 days: "
    "publish the consent screen, then sign in again with `pellacia-dist auth login youtube`."
)


class YouTubeAuth:
    """The ``AuthFlow`` of YouTube (Google OAuth 2.0 with PKCE S256)."""

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
        """The Google consent URL (offline access, forced consent, PKCE S256)."""
        query = {
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(self.scopes),
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            "access_type": "offline",
            "prompt": "consent",
            "include_granted_scopes": "true",
        }
        return f"{ctx.endpoint(ACCOUNTS_HOST)}/o/oauth2/v2/auth?{urlencode(query)}"

    async def exchange_code(
        self,
        ctx: PlatformContext,
        *,
        client: OAuthClient,
        code: str,
        redirect_uri: str,
        code_verifier: str,
    ) -> TokenSet:
        """Trade the authorization code for tokens."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
            **_client_form(client),
        }
        reply = await _post_token(ctx, form)
        if reply.status >= 400:
            _raise_token_error(reply, "the authorization code was refused; sign in again")
        return _token_set(ctx, reply, previous=None)

    async def refresh(
        self, ctx: PlatformContext, *, client: OAuthClient, tokens: TokenSet
    ) -> TokenSet:
        """A new access token; the refresh token is kept (Google does not rotate it)."""
        if not tokens.refresh_token:
            raise AuthExpired(
                "no YouTube refresh token stored (signed in without offline access); "
                "sign in again with `pellacia-dist auth login youtube`",
                platform=PLATFORM,
            )
        form = {
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token,
            **_client_form(client),
        }
        reply = await _post_token(ctx, form)
        if reply.status >= 400:
            _raise_token_error(reply, TESTING_HINT)
        return _token_set(ctx, reply, previous=tokens)


def _client_form(client: OAuthClient) -> dict[str, str]:
    form = {"client_id": client.client_id}
    if client.client_secret:
        form["client_secret"] = client.client_secret
    return form


async def _post_token(ctx: PlatformContext, form: dict[str, str]) -> Reply:
    url = f"{ctx.endpoint(OAUTH_TOKEN_HOST)}/token"
    try:
        async with ctx.http.post(url, data=form, allow_redirects=False) as resp:
            return Reply(resp.status, dict(resp.headers), await resp.read())
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise Transient(
            f"Google token endpoint: network error ({type(exc).__name__})",
            platform=PLATFORM,
            network=True,
        ) from None


def _raise_token_error(reply: Reply, invalid_grant_hint: str) -> None:
    error, _description = error_reason(reply)
    # The description is Google's text; it never carries the token, but keep it out anyway.
    if error == "invalid_grant":
        raise AuthExpired(invalid_grant_hint, platform=PLATFORM)
    if reply.status == 429 or reply.status >= 500:
        raise Transient(f"Google token endpoint: HTTP {reply.status}", platform=PLATFORM)
    if error in ("invalid_client", "unauthorized_client") or reply.status == 401:
        raise AuthExpired(
            f"Google token endpoint: {error or reply.status}: check the YouTube OAuth client id and secret",
            platform=PLATFORM,
        )
    raise Rejected(
        f"Google token endpoint: HTTP {reply.status} {error or 'error'}", platform=PLATFORM
    )


def _token_set(ctx: PlatformContext, reply: Reply, previous: TokenSet | None) -> TokenSet:
    data: Any = reply.json()
    if not isinstance(data, dict) or not data.get("access_token"):
        raise Transient("Google token endpoint: answer without an access token", platform=PLATFORM)
    expires_in = int(data.get("expires_in") or 3599)
    scope = data.get("scope")
    scopes = tuple(str(scope).split()) if scope else (previous.scopes if previous else ())
    return TokenSet(
        access_token=str(data["access_token"]),
        refresh_token=data.get("refresh_token") or (previous.refresh_token if previous else None),
        expires_at=ctx.clock.now() + timedelta(seconds=expires_in),
        refresh_expires_at=previous.refresh_expires_at if previous else None,
        scopes=scopes,
        extra=dict(previous.extra) if previous else {},
    )
