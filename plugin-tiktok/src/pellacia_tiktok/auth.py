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

from pellacia.contract import OAuthClient, PlatformContext
from pellacia.errors import ConfigError
from pellacia.sdk import AuthorizationCodeGrant, TokenEndpoint

from pellacia_tiktok.client import API_BASE, AUTH_BASE

SCOPES: tuple[str, ...] = ("user.info.basic", "video.publish", "video.upload", "video.list")
TOKENS = TokenEndpoint(API_BASE, "/v2/oauth/token/", "TikTok")


class TikTokAuth(AuthorizationCodeGrant):
    """``AuthFlow`` of TikTok: Login Kit's authorization code with PKCE S256;
    the app is a ``client_key`` with its secret, and refresh tokens rotate."""

    authorize_base = AUTH_BASE
    authorize_path = "/v2/auth/authorize/"
    scope_separator = ","
    client_id_param = "client_key"

    def __init__(self) -> None:
        super().__init__(TOKENS, SCOPES)

    def __repr__(self) -> str:
        return "TikTokAuth()"

    async def client_form(self, ctx: PlatformContext, client: OAuthClient) -> dict[str, str]:
        """``client_key`` and ``client_secret``: TikTok takes no public client."""
        if not client.client_secret:
            raise ConfigError("TikTok needs the app's client secret (client_key + client_secret)")
        return await super().client_form(ctx, client)
