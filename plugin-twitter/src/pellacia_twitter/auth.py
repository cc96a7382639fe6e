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

import base64
from collections.abc import Mapping, Sequence
from urllib.parse import quote, urlencode

from pellacia.contract import AuthKind, OAuthClient, PlatformContext, TokenSet
from pellacia.errors import AuthExpired, Transient
from pellacia.sdk import NETWORK_ERRORS, parse_token_response

from pellacia_twitter.client import API_BASE, AUTH_BASE, PLATFORM

SCOPES: tuple[str, ...] = (
    "tweet.read",
    "tweet.write",
    "users.read",
    "media.write",
    "offline.access",
)
TOKEN_PATH = "/2/oauth2/token"
ACCESS_TTL_S = 7200.0  # used when an answer leaves expires_in out


class XAuth:
    """``AuthFlow`` of X (``pellacia.contract.AuthorizationCodeFlow``)."""

    kind = AuthKind.AUTHORIZATION_CODE
    scopes: Sequence[str] = SCOPES

    def __repr__(self) -> str:
        return "XAuth()"

    def authorization_url(
        self,
        ctx: PlatformContext,
        *,
        client: OAuthClient,
        redirect_uri: str,
        state: str,
        code_challenge: str,
    ) -> str:
        """X's consent page (``x.com/i/oauth2/authorize``), S256 PKCE."""
        query = urlencode(
            {
                "response_type": "code",
                "client_id": client.client_id,
                "redirect_uri": redirect_uri,
                "scope": " ".join(self.scopes),
                "state": state,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            },
            quote_via=quote,  # X wants %20 between scopes
        )
        return f"{ctx.endpoint(AUTH_BASE)}/i/oauth2/authorize?{query}"

    async def exchange_code(
        self,
        ctx: PlatformContext,
        *,
        client: OAuthClient,
        code: str,
        redirect_uri: str,
        code_verifier: str,
    ) -> TokenSet:
        """Trade the authorization code (and the PKCE verifier) for tokens."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        return await token_call(ctx, client, form, what="code exchange")

    async def refresh(
        self, ctx: PlatformContext, *, client: OAuthClient, tokens: TokenSet
    ) -> TokenSet:
        """New tokens; the rotated refresh token replaces the old one."""
        if not tokens.refresh_token:
            raise AuthExpired(
                "X: no refresh token stored (signed in without offline.access); sign in "
                "again with `pellacia-dist auth login twitter`",
                platform=PLATFORM,
            )
        form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
        return await token_call(ctx, client, form, what="token refresh", previous=tokens)


def client_auth(
    client: OAuthClient, form: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """``(form, headers)``: HTTP Basic for a confidential client, ``client_id`` in the form else."""
    if client.client_secret:
        pair = f"{quote(client.client_id, safe='')}:{quote(client.client_secret, safe='')}"
        basic = base64.b64encode(pair.encode()).decode()
        return dict(form), {"Authorization": f"Basic {basic}"}
    return {**form, "client_id": client.client_id}, {}


async def token_call(
    ctx: PlatformContext,
    client: OAuthClient,
    form: Mapping[str, str],
    *,
    what: str,
    previous: TokenSet | None = None,
) -> TokenSet:
    """POST ``form`` to X's token endpoint; the tokens, or a typed error.

    (``pellacia.sdk.TokenEndpoint`` sends no Authorization header, which a
    confidential X client needs; refusals are mapped the same way.)
    """
    body, headers = client_auth(client, form)
    url = f"{ctx.endpoint(API_BASE)}{TOKEN_PATH}"
    try:
        async with ctx.http.post(url, data=body, headers=headers, allow_redirects=False) as resp:
            status = resp.status
            data = await resp.json(content_type=None)
    except NETWORK_ERRORS as exc:
        raise Transient(
            f"X {what}: network error ({type(exc).__name__})", platform=PLATFORM, network=True
        ) from None
    except ValueError:
        data = None
    answer = data if isinstance(data, dict) else {}
    code = str(answer.get("error") or "")
    if status == 200 and not code:
        try:
            return parse_token_response(
                answer, now=ctx.clock.now(), previous=previous, default_expires_in=ACCESS_TTL_S
            )
        except ValueError:
            raise Transient(
                f"X {what}: the answer has no access token", platform=PLATFORM
            ) from None
    if status == 429 or status >= 500:
        raise Transient(f"X {what}: HTTP {status} {code}".rstrip(), platform=PLATFORM)
    hint = (
        "check the OAuth client id and secret in the config"
        if code in ("invalid_client", "unauthorized_client")
        else "sign in again with `pellacia-dist auth login twitter`"
    )
    raise AuthExpired(f"X {what} refused: {code or f'HTTP {status}'}; {hint}", platform=PLATFORM)
