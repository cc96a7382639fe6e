"""LinkedIn 3-legged OAuth 2.0, and who an account posts as.

- Consent: ``https://www.linkedin.com/oauth/v2/authorization`` (scopes
  space-separated); tokens: ``POST /oauth/v2/accessToken`` with the app's
  client id **and secret** (LinkedIn's standard web flow; no PKCE).
- Access tokens last 60 days. Refresh tokens (365 days, not extended by a
  refresh) exist only for apps LinkedIn enabled "programmatic refresh tokens"
  for: without one, ``refresh`` says to sign in again.
- Scopes follow the account's author (``author_of``): a member posts with
  ``w_member_social``; an organization with ``w_organization_social``, reads
  its posts with ``r_organization_social`` and its statistics with
  ``rw_organization_admin``. ``openid profile`` give the member's id
  (``/v2/userinfo``), kept in ``TokenSet.extra["person_urn"]``.
  ``settings["scopes"]`` replaces the list (add ``r_member_social`` when the
  app has it: reconcile and metrics of member posts read through it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from pellacia.contract import AuthKind, OAuthClient, PlatformContext, PublishRequest, TokenSet
from pellacia.errors import AuthExpired, ConfigError, Rejected, Transient
from pellacia.log import get_logger
from pellacia.sdk import NETWORK_ERRORS, TokenEndpoint

from pellacia_linkedin.client import API_BASE, PLATFORM, WWW_BASE

MEMBER_SCOPES: tuple[str, ...] = ("openid", "profile", "w_member_social")
ORGANIZATION_SCOPES: tuple[str, ...] = (
    "openid",
    "profile",
    "w_organization_social",
    "r_organization_social",
    "rw_organization_admin",
)
#: LinkedIn answers expires_in (5184000 s = 60 days); this is only the fallback
TOKENS = TokenEndpoint(WWW_BASE, "/oauth/v2/accessToken", "LinkedIn", default_expires_in=5184000)
RELOGIN = "sign in again with `pellacia-dist auth login linkedin`"
#: without a refresh token, warn this many days before the access token dies
EXPIRY_WARNING_DAYS = 7.0
log = get_logger("pellacia_linkedin.auth")
_AUTHOR = re.compile(r"^urn:li:(person|organization):[A-Za-z0-9_-]+$")


def configured_author(ctx: PlatformContext, request: PublishRequest | None = None) -> str | None:
    """The author URN configured for this account, if any.

    ``request.options["author"]`` (an account's ``options`` reach every post),
    else ``settings["authors"][account]``, else ``settings["author"]``.
    """
    settings = ctx.settings
    authors = settings.get("authors")
    candidates = (
        request.options.get("author") if request is not None else None,
        authors.get(ctx.account) if isinstance(authors, Mapping) else None,
        settings.get("author"),
    )
    for value in candidates:
        if value:
            urn = str(value)
            if not _AUTHOR.match(urn):
                raise ConfigError(
                    f"LinkedIn author {urn!r} for account {ctx.account!r}: write "
                    "urn:li:person:<id> or urn:li:organization:<id>"
                )
            return urn
    return None


async def author_of(ctx: PlatformContext, request: PublishRequest | None = None) -> str:
    """Who this account posts as: the configured author, else the signed-in member."""
    urn = configured_author(ctx, request)
    if urn:
        return urn
    tokens = await ctx.tokens.current()
    # kept at sign-in; asked again for tokens stored without it
    person = tokens.extra.get("person_urn") or await _person_urn(ctx, tokens)
    if person:
        return str(person)
    raise Rejected(
        f"LinkedIn account {ctx.account!r}: no author. Set authors.{ctx.account} = "
        '"urn:li:organization:<id>" under [plugins.linkedin] to post as a page, or sign '
        "in with the openid and profile scopes to post as the member",
        platform=PLATFORM,
    )


def is_organization(urn: str) -> bool:
    return urn.startswith("urn:li:organization:")


def scopes_for(ctx: PlatformContext) -> tuple[str, ...]:
    """``settings["scopes"]``, else the member's or the organization's set."""
    given = ctx.settings.get("scopes")
    if given:
        return tuple(str(s) for s in given)
    author = configured_author(ctx)
    return ORGANIZATION_SCOPES if author and is_organization(author) else MEMBER_SCOPES


class LinkedInAuth:
    """The ``AuthFlow`` of LinkedIn (``AuthorizationCodeFlow``, client secret, no PKCE)."""

    kind = AuthKind.AUTHORIZATION_CODE
    scopes: Sequence[str] = MEMBER_SCOPES

    def __repr__(self) -> str:
        return "LinkedInAuth()"

    def authorization_url(
        self,
        ctx: PlatformContext,
        *,
        client: OAuthClient,
        redirect_uri: str,
        state: str,
        code_challenge: str,
    ) -> str:
        """The consent page. LinkedIn's web flow takes no PKCE challenge: ``state``
        guards the redirect and the code is only redeemable with the client secret."""
        params = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": " ".join(scopes_for(ctx)),
        }
        return f"{ctx.endpoint(WWW_BASE)}/oauth/v2/authorization?{urlencode(params)}"

    async def exchange_code(
        self,
        ctx: PlatformContext,
        *,
        client: OAuthClient,
        code: str,
        redirect_uri: str,
        code_verifier: str,
    ) -> TokenSet:
        """Trade the code for tokens, then learn the member's id when ``openid`` was granted."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            **_client_form(client),
        }
        tokens = await TOKENS.post(ctx, form, what="code exchange", refused_hint=RELOGIN)
        if "openid" not in tokens.scopes:
            return tokens
        person = await _person_urn(ctx, tokens)
        return replace(tokens, extra={**tokens.extra, "person_urn": person}) if person else tokens

    async def refresh(
        self, ctx: PlatformContext, *, client: OAuthClient, tokens: TokenSet
    ) -> TokenSet:
        """A new access token from the programmatic refresh token (kept as is)."""
        if not tokens.refresh_token:
            raise AuthExpired(
                "LinkedIn access tokens last 60 days and this app has no programmatic "
                f"refresh tokens: {RELOGIN}",
                platform=PLATFORM,
            )
        form = {
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token,
            **_client_form(client),
        }
        return await TOKENS.post(
            ctx, form, what="token refresh", previous=tokens, refused_hint=RELOGIN
        )


async def _person_urn(ctx: PlatformContext, tokens: TokenSet) -> str | None:
    """``urn:li:person:<sub>`` from ``GET /v2/userinfo``; None when LinkedIn refuses
    (no ``openid`` scope), ``Transient`` when it could not answer."""
    url = f"{ctx.endpoint(API_BASE)}/v2/userinfo"
    headers = {"Authorization": f"Bearer {tokens.access_token}"}
    try:
        async with ctx.http.get(url, headers=headers, allow_redirects=False) as resp:
            status, body = resp.status, await resp.read()
    except NETWORK_ERRORS as exc:
        raise Transient(
            f"LinkedIn userinfo: network error ({type(exc).__name__})",
            platform=PLATFORM,
            network=True,
        ) from None
    if status == 429 or status >= 500:
        raise Transient(f"LinkedIn userinfo: HTTP {status}", platform=PLATFORM)
    try:
        data: Any = json.loads(body or b"null") if status == 200 else None
    except ValueError:
        data = None
    sub = data.get("sub") if isinstance(data, dict) else None
    return f"urn:li:person:{sub}" if sub else None


async def warn_if_expiring(ctx: PlatformContext) -> float | None:
    """Log a warning, with the re-login command, when the account's access token
    dies within ``settings["expiry_warning_days"]`` (default 7) and no refresh
    token can renew it. Returns the days left when it warned."""
    tokens = await ctx.tokens.current()
    if tokens.refresh_token or tokens.expires_at is None:
        return None
    left = (tokens.expires_at - ctx.clock.now()).total_seconds() / 86400
    if left > float(ctx.settings.get("expiry_warning_days", EXPIRY_WARNING_DAYS)):
        return None
    log.warning(
        "linkedin.token_expiring",
        account=ctx.account,
        expires_at=tokens.expires_at.isoformat(),
        days_left=round(left, 1),
        fix=f"pellacia-dist auth login linkedin --account {ctx.account}",
    )
    return left


def _client_form(client: OAuthClient) -> dict[str, str]:
    if not client.client_secret:
        raise ConfigError("LinkedIn needs the app's client secret (client_id + client_secret)")
    return {"client_id": client.client_id, "client_secret": client.client_secret}
