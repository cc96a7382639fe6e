"""Ready-made auth flows for the standard OAuth 2.0 grants and static API keys.

Each declares its ``kind`` (``pellacia.contract.AuthKind``) and implements that
kind's protocol, so core signs accounts in with it (``auth login``) and the
kit can too. A platform with its own twist subclasses one and overrides a
method: ``client_form`` (how the application identifies itself: a PeerTube-like
instance hands out its client id at ``/oauth-clients/local``) or ``extra_form``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import ClassVar
from urllib.parse import quote, urlencode

from pellacia.contract import AuthKind, OAuthClient, PlatformContext, TokenSet
from pellacia.errors import AuthExpired
from pellacia.sdk.tokens import TokenEndpoint


class OAuthGrant:
    """Shared part of the token-endpoint flows: client form and refresh."""

    kind: ClassVar[AuthKind]
    #: said after a refusal ("sign in again with ...")
    refused_hint: ClassVar[str] = ""
    #: a client with a secret authenticates with HTTP Basic (RFC 6749 §2.3.1)
    #: instead of sending the secret in the form (X's confidential clients)
    client_basic_auth: ClassVar[bool] = False
    #: the name the platform gives the client id (TikTok: ``client_key``)
    client_id_param: ClassVar[str] = "client_id"

    def __init__(self, endpoint: TokenEndpoint, scopes: Sequence[str] = ()) -> None:
        self.endpoint = endpoint
        self.scopes: Sequence[str] = tuple(scopes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint.display_name!r})"

    async def client_form(self, ctx: PlatformContext, client: OAuthClient) -> dict[str, str]:
        """How the application identifies itself in the form (empty without a client)."""
        if self.client_basic_auth and client.client_secret:
            return {}  # in the Authorization header instead
        form: dict[str, str] = {}
        if client.client_id:
            form[self.client_id_param] = client.client_id
        if client.client_secret:
            form["client_secret"] = client.client_secret
        return form

    def client_headers(self, client: OAuthClient) -> dict[str, str]:
        """HTTP Basic client authentication, where the flow uses it."""
        if not (self.client_basic_auth and client.client_secret):
            return {}
        pair = f"{quote(client.client_id, safe='')}:{quote(client.client_secret, safe='')}"
        return {"Authorization": f"Basic {base64.b64encode(pair.encode()).decode()}"}

    def extra_form(self) -> dict[str, str]:
        """Fields every token request carries (``scope`` when the flow names scopes)."""
        return {"scope": " ".join(self.scopes)} if self.scopes else {}

    async def token(
        self,
        ctx: PlatformContext,
        client: OAuthClient,
        form: dict[str, str],
        *,
        what: str,
        previous: TokenSet | None = None,
    ) -> TokenSet:
        full = {**form, **await self.client_form(ctx, client)}
        return await self.endpoint.post(
            ctx,
            full,
            what=what,
            previous=previous,
            refused_hint=self.refused_hint,
            headers=self.client_headers(client),
        )

    async def refresh(
        self, ctx: PlatformContext, *, client: OAuthClient, tokens: TokenSet
    ) -> TokenSet:
        """``grant_type=refresh_token``; ``AuthExpired`` without a refresh token."""
        if not tokens.refresh_token:
            raise AuthExpired(
                f"{self.endpoint.display_name}: no refresh token stored; sign in again",
                platform=ctx.platform,
            )
        form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
        return await self.token(ctx, client, form, what="token refresh", previous=tokens)


class AuthorizationCodeGrant(OAuthGrant):
    """``AuthKind.AUTHORIZATION_CODE``: RFC 6749 §4.1 with PKCE (S256), the
    consent page redirecting to core's loopback listener.

    A platform sets where its consent page is (``authorize_base`` +
    ``authorize_path``) and what else that page wants (``authorize_params``,
    ``scope_separator``); the code exchange and the refresh go to the
    ``TokenEndpoint`` given at construction.
    """

    kind = AuthKind.AUTHORIZATION_CODE
    #: the consent page's real host, and its path (the sandbox's fake when
    #: pellacia-dist runs against the sandbox)
    authorize_base: ClassVar[str] = ""
    authorize_path: ClassVar[str] = ""
    #: query parameters the consent page wants besides the standard ones
    authorize_params: ClassVar[Mapping[str, str]] = {}
    #: how the consent URL joins scopes (OAuth: a space; TikTok: a comma)
    scope_separator: ClassVar[str] = " "

    def extra_form(self) -> dict[str, str]:
        """The code exchange names no scope: the consent page granted them."""
        return {}

    def authorization_url(
        self,
        ctx: PlatformContext,
        *,
        client: OAuthClient,
        redirect_uri: str,
        state: str,
        code_challenge: str,
    ) -> str:
        """The consent page's URL (spaces encoded as ``%20``, which every platform reads)."""
        query = {
            "response_type": "code",
            self.client_id_param: client.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.scope_separator.join(self.scopes),
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            **self.authorize_params,
        }
        base = f"{ctx.endpoint(self.authorize_base)}{self.authorize_path}"
        return f"{base}?{urlencode(query, quote_via=quote)}"

    async def exchange_code(
        self,
        ctx: PlatformContext,
        *,
        client: OAuthClient,
        code: str,
        redirect_uri: str,
        code_verifier: str,
    ) -> TokenSet:
        """Trade the code (and the PKCE verifier) for tokens."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        return await self.token(ctx, client, form, what="code exchange")


class PasswordGrant(OAuthGrant):
    """``AuthKind.PASSWORD``: RFC 6749 §4.3, ``grant_type=password``."""

    kind = AuthKind.PASSWORD

    async def password_login(
        self, ctx: PlatformContext, *, client: OAuthClient, username: str, password: str
    ) -> TokenSet:
        form = {
            "grant_type": "password",
            "username": username,
            "password": password,
            **self.extra_form(),
        }
        return await self.token(ctx, client, form, what="sign-in")


class ClientCredentialsGrant(OAuthGrant):
    """``AuthKind.CLIENT_CREDENTIALS``: RFC 6749 §4.4; a refresh signs in again."""

    kind = AuthKind.CLIENT_CREDENTIALS

    async def client_login(self, ctx: PlatformContext, *, client: OAuthClient) -> TokenSet:
        form = {"grant_type": "client_credentials", **self.extra_form()}
        return await self.token(ctx, client, form, what="sign-in")

    async def refresh(
        self, ctx: PlatformContext, *, client: OAuthClient, tokens: TokenSet
    ) -> TokenSet:
        if tokens.refresh_token:
            return await super().refresh(ctx, client=client, tokens=tokens)
        return await self.client_login(ctx, client=client)


class StaticApiKey:
    """``AuthKind.API_KEY``: the key is the token, never refreshed.

    ``ApiClient.auth_headers`` sends it as a bearer token; override it there
    for a platform that wants another header.
    """

    kind = AuthKind.API_KEY
    scopes: Sequence[str] = ()

    def __repr__(self) -> str:
        return "StaticApiKey()"

    async def api_key_login(self, ctx: PlatformContext, *, api_key: str) -> TokenSet:
        if not api_key.strip():
            raise AuthExpired("the API key is empty", platform=ctx.platform)
        return TokenSet(access_token=api_key.strip())

    async def refresh(
        self, ctx: PlatformContext, *, client: OAuthClient, tokens: TokenSet
    ) -> TokenSet:
        raise AuthExpired(
            f"the {ctx.platform} API key was refused: store a valid one with "
            f"`pellacia-dist auth login {ctx.platform}`",
            platform=ctx.platform,
        )
