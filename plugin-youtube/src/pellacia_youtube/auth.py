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
from urllib.parse import urlencode

from pellacia.contract import AuthKind, OAuthClient, PlatformContext, TokenSet
from pellacia.errors import AuthExpired
from pellacia.sdk import TokenEndpoint

from pellacia_youtube.client import ACCOUNTS_HOST, OAUTH_TOKEN_HOST, PLATFORM

SCOPES: tuple[str, ...] = (
    "https://www.googleapis.com/auth/youtube.upload",
    "https://www.googleapis.com/auth/youtube.readonly",
    "https://www.googleapis.com/auth/yt-analytics.readonly",
)

TESTING_HINT = (
    "If the app's OAuth consent screen is External and still in 'Testing', refresh "
    "tokens expire after 7 days: publish the consent screen, then sign in again with "
    "`pellacia-dist auth login youtube`."
)

TOKENS = TokenEndpoint(OAUTH_TOKEN_HOST, "/token", "Google", default_expires_in=3599)


class YouTubeAuth:
    """The ``AuthFlow`` of YouTube (Google OAuth 2.0 with PKCE S256)."""

    kind = AuthKind.AUTHORIZATION_CODE
    scopes: Sequence[str] = SCOPES

    def __repr__(self) -> str:
        return "YouTubeAuth()"

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
        return await TOKENS.post(ctx, form, what="code exchange", refused_hint="sign in again")

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
        return await TOKENS.post(
            ctx, form, what="token refresh", previous=tokens, refused_hint=TESTING_HINT
        )


def _client_form(client: OAuthClient) -> dict[str, str]:
    form = {"client_id": client.client_id}
    if client.client_secret:
        form["client_secret"] = client.client_secret
    return form
