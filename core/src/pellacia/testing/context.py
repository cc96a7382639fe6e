"""A ``PlatformContext`` against the sandbox, signed in through the platform's own OAuth.

``open_platform_context`` runs the plugin's ``auth.authorization_url``, follows
the fake's auto-approving authorize endpoint to the redirect carrying ``code``
and ``state``, and trades the code with ``auth.exchange_code``: the sign-in
flow is exercised for real, then a ``ManagedTokenSource`` keeps the tokens.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

from pellacia.clock import SYSTEM_CLOCK, Clock
from pellacia.contract import OAuthClient, Platform, PlatformContext, TokenSet
from pellacia.http import client_session
from pellacia.tokens import ManagedTokenSource, StaticTokenSource, platform_context

#: the OAuth application the sandbox fakes accept (any id/secret works there)
SANDBOX_CLIENT = OAuthClient("sandbox-client", "sandbox-secret")
#: never contacted: the fake's redirect is read, not followed
REDIRECT_URI = "http://127.0.0.1:9/callback"


@dataclass
class KitContext:
    """A signed-in platform context plus what tests inspect."""

    platform: Platform
    ctx: PlatformContext
    tokens: ManagedTokenSource
    client: OAuthClient


def pkce_pair() -> tuple[str, str]:
    """A PKCE ``(verifier, S256 challenge)``."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def sign_in(
    platform: Platform, ctx: PlatformContext, client: OAuthClient = SANDBOX_CLIENT
) -> TokenSet:
    """Tokens from the fake through the platform's own authorization-code flow."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    url = platform.auth.authorization_url(
        ctx, client=client, redirect_uri=REDIRECT_URI, state=state, code_challenge=challenge
    )
    async with ctx.http.get(url, allow_redirects=False) as resp:
        location = resp.headers.get("Location")
        if resp.status not in (301, 302, 303, 307) or not location:
            body = await resp.text()
            raise AssertionError(
                f"the {platform.name} authorize endpoint answered {resp.status} instead of "
                f"redirecting to the redirect URI: {body[:300]}"
            )
    target = urlsplit(urljoin(url, location))
    if f"{target.scheme}://{target.netloc}{target.path}" != REDIRECT_URI:
        raise AssertionError(f"authorize redirected to {location!r}, not the redirect URI")
    query = parse_qs(target.query)
    if query.get("state") != [state]:
        raise AssertionError("authorize redirect lost or changed the OAuth state parameter")
    if "code" not in query:
        raise AssertionError(f"authorize redirect carries no code: {query}")
    return await platform.auth.exchange_code(
        ctx,
        client=client,
        code=query["code"][0],
        redirect_uri=REDIRECT_URI,
        code_verifier=verifier,
    )


@asynccontextmanager
async def open_platform_context(
    platform: Platform,
    sandbox_url: str,
    *,
    account: str = "sandbox-account",
    settings: Mapping[str, Any] | None = None,
    client: OAuthClient = SANDBOX_CLIENT,
    clock: Clock = SYSTEM_CLOCK,
) -> AsyncIterator[KitContext]:
    """A signed-in context for ``platform`` against the sandbox; closes its session."""
    async with client_session() as http:
        anonymous = platform_context(
            platform,
            account=account,
            http=http,
            tokens=StaticTokenSource(TokenSet(access_token="")),
            clock=clock,
            settings=settings,
            sandbox_url=sandbox_url,
        )
        tokens = ManagedTokenSource(
            platform, client, await sign_in(platform, anonymous, client), clock=clock
        )
        ctx = platform_context(
            platform,
            account=account,
            http=http,
            tokens=tokens,
            clock=clock,
            settings=settings,
            sandbox_url=sandbox_url,
        )
        yield KitContext(platform=platform, ctx=ctx, tokens=tokens, client=client)
