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

from collections.abc import Sequence
from urllib.parse import urlencode

from pellacia.contract import AuthKind, OAuthClient, PlatformContext, TokenSet
from pellacia.errors import AuthExpired, ConfigError
from pellacia.sdk import TokenEndpoint

from pellacia_tiktok.client import API_BASE, AUTH_BASE, PLATFORM

SCOPES: tuple[str, ...] = ("user.info.basic", "video.publish", "video.upload", "video.list")
TOKENS = TokenEndpoint(API_BASE, "/v2/oauth/token/", "TikTok")


class TikTokAuth:
    """``AuthFlow`` of TikTok (``pellacia.contract.AuthorizationCodeFlow``)."""

    kind = AuthKind.AUTHORIZATION_CODE
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
        return await TOKENS.post(ctx, form, what="code exchange")

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
        return await TOKENS.post(ctx, form, what="token refresh", previous=tokens)


def _secret(client: OAuthClient) -> str:
    if not client.client_secret:
        raise ConfigError("TikTok needs the app's client secret (client_key + client_secret)")
    return client.client_secret
