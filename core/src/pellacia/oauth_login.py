"""Signing an account in, whatever auth flow kind its platform declares.

``sign_in`` dispatches on ``auth_kind(platform.auth)``:

- authorization code + PKCE: a one-shot HTTP server on 127.0.0.1 receives the
  redirect; ``open_url`` shows the consent page (opens a browser, prints the
  URL, or — against the sandbox — follows it);
- password grant: ``credentials.username`` and ``credentials.password``;
- client credentials: nothing from the user;
- long-lived token exchange: ``credentials.token``;
- static API key: ``credentials.api_key``.

``login`` wraps it with its own HTTP session and context (the CLI's
``auth login``); the conformance kit calls ``sign_in`` with its own context.
Neither stores the tokens: the caller does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pellacia.contract import (
    ApiKeyFlow,
    AuthKind,
    AuthorizationCodeFlow,
    ClientCredentialsFlow,
    OAuthClient,
    PasswordFlow,
    Platform,
    PlatformContext,
    TokenExchangeFlow,
    TokenSet,
    auth_kind,
)
from pellacia.errors import AuthExpired, ConfigError


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str

    def __repr__(self) -> str:
        return "Pkce(…)"

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(64)  # 86 chars: within RFC 7636's 43..128
        digest = hashlib.sha256(verifier.encode()).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


@dataclass(frozen=True)
class Credentials:
    """What the user gives for the kinds that need more than a browser. Never shown."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)


#: what each kind asks the user for (besides a browser for the code flow)
NEEDS: dict[AuthKind, tuple[str, ...]] = {
    AuthKind.AUTHORIZATION_CODE: (),
    AuthKind.PASSWORD: ("username", "password"),
    AuthKind.CLIENT_CREDENTIALS: (),
    AuthKind.TOKEN_EXCHANGE: ("token",),
    AuthKind.API_KEY: ("api_key",),
}

_DONE_PAGE = (
    "<html><body><h1>pellacia-dist is connected.</h1>"
    "<p>You can close this window and return to the terminal.</p></body></html>"
)


def _not_implemented(platform: Platform, protocol: str) -> ConfigError:
    return ConfigError(
        f"the {platform.display_name} plugin declares the "
        f"{auth_kind(platform.auth).value} sign-in but its auth flow does not implement {protocol}"
    )


def _given(credentials: Credentials, name: str, platform: Platform) -> str:
    value = getattr(credentials, name)
    if not value:
        raise ConfigError(f"signing in to {platform.display_name} needs a {name.replace('_', ' ')}")
    return str(value)


async def sign_in(
    platform: Platform,
    ctx: PlatformContext,
    client: OAuthClient,
    *,
    credentials: Credentials | None = None,
    open_url: Callable[[str], object] | None = None,
    port: int = 0,
    wait_seconds: float = 300.0,
) -> TokenSet:
    """Tokens for one account through the flow kind ``platform.auth`` declares."""
    kind, flow = auth_kind(platform.auth), platform.auth
    given = credentials or Credentials()
    if kind is AuthKind.AUTHORIZATION_CODE:
        if not isinstance(flow, AuthorizationCodeFlow):
            raise _not_implemented(platform, "AuthorizationCodeFlow")
        if open_url is None:
            raise ConfigError(f"signing in to {platform.display_name} needs a browser")
        return await _code_flow(platform, flow, ctx, client, open_url, port, wait_seconds)
    if kind is AuthKind.PASSWORD:
        if not isinstance(flow, PasswordFlow):
            raise _not_implemented(platform, "PasswordFlow")
        username = _given(given, "username", platform)
        password = _given(given, "password", platform)
        return await flow.password_login(ctx, client=client, username=username, password=password)
    if kind is AuthKind.CLIENT_CREDENTIALS:
        if not isinstance(flow, ClientCredentialsFlow):
            raise _not_implemented(platform, "ClientCredentialsFlow")
        return await flow.client_login(ctx, client=client)
    if kind is AuthKind.TOKEN_EXCHANGE:
        if not isinstance(flow, TokenExchangeFlow):
            raise _not_implemented(platform, "TokenExchangeFlow")
        token = _given(given, "token", platform)
        return await flow.exchange_token(ctx, client=client, token=token)
    if not isinstance(flow, ApiKeyFlow):
        raise _not_implemented(platform, "ApiKeyFlow")
    return await flow.api_key_login(ctx, api_key=_given(given, "api_key", platform))


async def login(
    platform: Platform,
    client: OAuthClient,
    *,
    account: str,
    open_url: Callable[[str], object] | None = None,
    credentials: Credentials | None = None,
    settings: Mapping[str, Any] | None = None,
    sandbox_url: str | None = None,
    base_url: str | None = None,
    port: int = 0,
    wait_seconds: float = 300.0,
) -> TokenSet:
    """``sign_in`` with an HTTP session and context of its own (the CLI's ``auth login``);
    ``settings`` is the plugin's config section, ``base_url`` the account's own API
    base (a federated platform's instance)."""
    from pellacia.http import client_session
    from pellacia.tokens import StaticTokenSource, platform_context

    async with client_session() as http:
        ctx = platform_context(
            platform,
            account=account,
            http=http,
            tokens=StaticTokenSource(TokenSet(access_token="")),
            settings=settings,
            sandbox_url=sandbox_url,
            base_url=base_url,
        )
        return await sign_in(
            platform,
            ctx,
            client,
            credentials=credentials,
            open_url=open_url,
            port=port,
            wait_seconds=wait_seconds,
        )


async def _code_flow(
    platform: Platform,
    flow: AuthorizationCodeFlow,
    ctx: PlatformContext,
    client: OAuthClient,
    open_url: Callable[[str], object],
    port: int,
    wait_seconds: float,
) -> TokenSet:
    """Authorization code + PKCE with the redirect caught on 127.0.0.1."""
    from aiohttp import web

    pkce = Pkce.new()
    state = secrets.token_urlsafe(24)
    outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    app = web.Application()
    app.router.add_get("/callback", _callback(platform, state, outcome))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        redirect_uri = f"http://127.0.0.1:{runner.addresses[0][1]}/callback"
        url = flow.authorization_url(
            ctx,
            client=client,
            redirect_uri=redirect_uri,
            state=state,
            code_challenge=pkce.challenge,
        )
        opened = open_url(url)
        if asyncio.iscoroutine(opened):
            await opened
        try:
            code = await asyncio.wait_for(outcome, wait_seconds)
        except TimeoutError:
            raise AuthExpired(
                f"no answer from {platform.display_name} within {wait_seconds:.0f} s; "
                "run the login again",
                platform=platform.name,
            ) from None
        return await flow.exchange_code(
            ctx, client=client, code=code, redirect_uri=redirect_uri, code_verifier=pkce.verifier
        )
    finally:
        await runner.cleanup()


def _callback(platform: Platform, state: str, outcome: asyncio.Future[str]) -> Any:
    """The loopback redirect's handler: the code (or the refusal) into ``outcome``."""
    from aiohttp import web

    async def callback(request: web.Request) -> web.Response:
        if request.query.get("state") != state:
            return web.Response(status=400, text="state mismatch: start the login again")
        if "error" in request.query:
            if not outcome.done():
                outcome.set_exception(
                    AuthExpired(
                        f"{platform.display_name} refused access: {request.query['error']}",
                        platform=platform.name,
                    )
                )
            return web.Response(status=400, text="access was refused")
        code = request.query.get("code")
        if not code:
            return web.Response(status=400, text="no code in the redirect")
        if not outcome.done():
            outcome.set_result(code)
        return web.Response(text=_DONE_PAGE, content_type="text/html")

    return callback
