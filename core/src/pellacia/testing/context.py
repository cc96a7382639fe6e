"""A ``PlatformContext`` against the sandbox, signed in through the platform's declared flow.

``open_platform_context`` signs in with ``pellacia.oauth_login.sign_in``, the
code ``auth login`` runs, through whatever kind ``platform.auth`` declares
(``pellacia.contract.AuthKind``): an authorization-code flow goes through the
fake's auto-approving consent page to a redirect caught on 127.0.0.1; a
password grant signs in as ``SANDBOX_CREDENTIALS``'s user; an API key or a
token to exchange comes from there too. The flow gets the sandbox's OAuth
client only when it needs one (``needs_client``), else ``NO_CLIENT``, as from
core. Then a ``ManagedTokenSource`` keeps and refreshes the tokens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from pellacia.clock import SYSTEM_CLOCK, Clock
from pellacia.contract import (
    NO_CLIENT,
    OAuthClient,
    Platform,
    PlatformContext,
    TokenSet,
    needs_client,
)
from pellacia.http import client_session
from pellacia.oauth_login import Credentials, sign_in
from pellacia.tokens import ManagedTokenSource, StaticTokenSource, platform_context

#: the OAuth application the sandbox fakes accept (any id/secret works there)
SANDBOX_CLIENT = OAuthClient("sandbox-client", "sandbox-secret")
#: what the kit signs in with when the flow asks for more than consent. A fake
#: accepts these (its user is the account name, see ``FakePlatform``); a kit
#: subclass overrides any of them with ``credentials``.
SANDBOX_CREDENTIALS: Mapping[str, str] = {
    "password": "sandbox-password",
    "api_key": "sandbox-api-key",
    "token": "sandbox-user-token",
}
#: how long the kit waits for the fake's consent page to come back
CONSENT_TIMEOUT_S = 15.0


@dataclass
class KitContext:
    """A signed-in platform context plus what tests inspect."""

    platform: Platform
    ctx: PlatformContext
    tokens: ManagedTokenSource
    client: OAuthClient


def kit_credentials(account: str, overrides: Mapping[str, str] | None = None) -> Credentials:
    """The sandbox credentials for ``account`` (its username), with ``overrides``."""
    values = {"username": account, **SANDBOX_CREDENTIALS, **(overrides or {})}
    unknown = set(values) - {"username", "password", "api_key", "token"}
    if unknown:
        raise AssertionError(f"unknown credentials {sorted(unknown)}: username, password, ...")
    return Credentials(**values)


def kit_client(platform: Platform) -> OAuthClient:
    """The client core would hand this flow against the sandbox."""
    return SANDBOX_CLIENT if needs_client(platform.auth) else NO_CLIENT


async def sandbox_sign_in(
    platform: Platform,
    ctx: PlatformContext,
    client: OAuthClient,
    credentials: Credentials,
) -> TokenSet:
    """Tokens from the fake through the platform's own declared flow."""

    async def consent(url: str) -> None:
        # the fake approves at once and redirects to sign_in's loopback callback
        async with ctx.http.get(url) as resp:
            body = await resp.text()
            if resp.status != 200:
                raise AssertionError(
                    f"the {platform.name} consent page did not come back to the redirect URI "
                    f"with a code and the same state: HTTP {resp.status} {body[:300]}"
                )

    return await sign_in(
        platform,
        ctx,
        client,
        credentials=credentials,
        open_url=consent,
        wait_seconds=CONSENT_TIMEOUT_S,
    )


@asynccontextmanager
async def open_platform_context(
    platform: Platform,
    sandbox_url: str,
    *,
    account: str = "sandbox-account",
    settings: Mapping[str, Any] | None = None,
    credentials: Mapping[str, str] | None = None,
    base_url: str | None = None,
    client: OAuthClient | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> AsyncIterator[KitContext]:
    """A signed-in context for ``platform`` against the sandbox; closes its session.

    ``credentials`` override ``SANDBOX_CREDENTIALS``; ``base_url`` is the
    account's configured instance (federated platforms); ``client`` replaces
    the one core would pass (``kit_client``).
    """
    chosen = client or kit_client(platform)
    async with client_session() as http:

        def context(tokens: ManagedTokenSource | StaticTokenSource) -> PlatformContext:
            return platform_context(
                platform,
                account=account,
                http=http,
                tokens=tokens,
                clock=clock,
                settings=settings,
                sandbox_url=sandbox_url,
                base_url=base_url,
            )

        anonymous = context(StaticTokenSource(TokenSet(access_token="")))
        signed = await sandbox_sign_in(
            platform, anonymous, chosen, kit_credentials(account, credentials)
        )
        tokens = ManagedTokenSource(platform, chosen, signed, clock=clock)
        yield KitContext(platform=platform, ctx=context(tokens), tokens=tokens, client=chosen)
