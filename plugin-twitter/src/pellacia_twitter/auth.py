"""X sign-in: OAuth 2.0 authorization code with PKCE (user context), and token refresh.

Scopes, the fewest that do the job (protocols.md §5):

- ``media.write``: the v2 media upload (initialize / append / finalize / status);
- ``tweet.write``: ``POST /2/tweets``;
- ``tweet.read`` and ``users.read``: ``/2/users/me``, the user's recent posts
  (reconcile) and ``GET /2/tweets`` (metrics); ``POST /2/tweets`` wants them too;
- ``offline.access``: without it X issues no refresh token at all.

Access tokens last 2 hours. Refresh tokens are **rotated**: every refresh
answers a new one and kills the old one, so two workers refreshing at once
would burn each other's token; core's token vault serialises refreshes per
account, and ``refresh`` here returns the rotated token for core to store.

A *confidential* client (an X "Web App" with a client secret) authenticates
the token calls with HTTP Basic; a *public* client ("Native App", no secret)
sends its ``client_id`` in the form. Both work here: give the secret or not.
"""

from __future__ import annotations

from pellacia.contract import OAuthClient, PlatformContext, TokenSet
from pellacia.errors import AuthExpired
from pellacia.sdk import AuthorizationCodeGrant, TokenEndpoint

from pellacia_twitter.client import API_BASE, AUTH_BASE, PLATFORM

SCOPES: tuple[str, ...] = (
    "tweet.read",
    "tweet.write",
    "users.read",
    "media.write",
    "offline.access",
)
TOKEN_PATH = "/2/oauth2/token"  # noqa: S105  a URL path
ACCESS_TTL_S = 7200.0  # used when an answer leaves expires_in out
TOKENS = TokenEndpoint(API_BASE, TOKEN_PATH, "X", default_expires_in=ACCESS_TTL_S)
RELOGIN = "sign in again with `pellacia-dist auth login twitter`"


class XAuth(AuthorizationCodeGrant):
    """``AuthFlow`` of X: authorization code + PKCE; a confidential client
    authenticates its token calls with HTTP Basic, a public one by its id."""

    authorize_base = AUTH_BASE
    authorize_path = "/i/oauth2/authorize"
    client_basic_auth = True
    refused_hint = RELOGIN

    def __init__(self) -> None:
        super().__init__(TOKENS, SCOPES)

    def __repr__(self) -> str:
        return "XAuth()"

    async def refresh(
        self, ctx: PlatformContext, *, client: OAuthClient, tokens: TokenSet
    ) -> TokenSet:
        """New tokens; the rotated refresh token replaces the old one."""
        if not tokens.refresh_token:
            raise AuthExpired(
                f"X: no refresh token stored (signed in without offline.access); {RELOGIN}",
                platform=PLATFORM,
            )
        return await super().refresh(ctx, client=client, tokens=tokens)
