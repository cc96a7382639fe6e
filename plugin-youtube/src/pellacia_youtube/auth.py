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

from pellacia.contract import OAuthClient, PlatformContext, TokenSet
from pellacia.errors import AuthExpired
from pellacia.sdk import AuthorizationCodeGrant, TokenEndpoint

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


class YouTubeAuth(AuthorizationCodeGrant):
    """The ``AuthFlow`` of YouTube (Google OAuth 2.0 with PKCE S256)."""

    authorize_base = ACCOUNTS_HOST
    authorize_path = "/o/oauth2/v2/auth"
    # a refresh token (offline), a new one on every sign-in (consent)
    authorize_params = {
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
    }
    refused_hint = TESTING_HINT

    def __init__(self) -> None:
        super().__init__(TOKENS, SCOPES)

    def __repr__(self) -> str:
        return "YouTubeAuth()"

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
        return await super().refresh(ctx, client=client, tokens=tokens)
