"""Token sources: fresh access tokens for plugins, refreshed once, race-free.

``ManagedTokenSource`` refreshes ahead of expiry (``margin`` seconds before)
and on demand after a 401, one refresh at a time per process. Where tokens
are persisted (``TokenStore``), the refresh happens under the store's lock and
re-reads the latest tokens first: when another worker already refreshed (and
a rotating platform like TikTok invalidated the old refresh token), its result
is adopted instead of refreshing again with a dead refresh token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from pellacia.clock import SYSTEM_CLOCK, Clock
from pellacia.contract import (
    NO_CLIENT,
    OAuthClient,
    Platform,
    PlatformContext,
    TokenSet,
    needs_client,
)
from pellacia.errors import AuthExpired

if TYPE_CHECKING:
    import aiohttp

Refresher = Callable[[TokenSet], Awaitable[TokenSet]]


class TokenStore(Protocol):
    """Where an account's tokens live between processes."""

    async def refresh_locked(self, stale: TokenSet, refresh: Refresher) -> TokenSet:
        """Under a lock: return newer stored tokens if any, else ``refresh`` and save."""
        ...


class MemoryTokenStore:
    """Keeps tokens in this process only (tests, one-off commands)."""

    def __init__(self) -> None:
        self.saved: list[TokenSet] = []

    async def refresh_locked(self, stale: TokenSet, refresh: Refresher) -> TokenSet:
        fresh = await refresh(stale)
        self.saved.append(fresh)
        return fresh


class VaultTokenStore:
    """Tokens in the encrypted vault; refresh serialised by a row lock."""

    def __init__(self, pool: Any, vault: Any, platform: str, account: str) -> None:
        self.pool = pool
        self.vault = vault
        self.platform = platform
        self.account = account

    async def refresh_locked(self, stale: TokenSet, refresh: Refresher) -> TokenSet:
        async with self.pool.acquire() as conn, conn.transaction():
            latest: TokenSet | None = await self.vault.get(
                conn, self.platform, self.account, for_update=True
            )
            if latest is not None and latest.access_token != stale.access_token:
                return latest  # someone else refreshed meanwhile
            fresh = await refresh(latest or stale)
            await self.vault.put(conn, self.platform, self.account, fresh)
            return fresh


class ManagedTokenSource:
    """A ``TokenSource`` for one account (see the module docstring)."""

    def __init__(
        self,
        platform: Platform,
        client: OAuthClient,
        tokens: TokenSet,
        *,
        store: TokenStore | None = None,
        clock: Clock = SYSTEM_CLOCK,
        margin: float = 300.0,
    ) -> None:
        self.platform = platform
        self.client = client
        self._tokens = tokens
        self.store: TokenStore = store or MemoryTokenStore()
        self.clock = clock
        self.margin = timedelta(seconds=margin)
        self.context: PlatformContext | None = None  # set by platform_context()
        self.refreshes = 0
        #: the last refresh adopted tokens another task or worker had got instead
        #: of refreshing: after a 401 they may be as dead as the refused ones (a
        #: platform that revoked every token), so one more refresh is worth it
        self.refresh_adopted = False
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"ManagedTokenSource(platform={self.platform.name!r}, refreshes={self.refreshes})"

    def _expiring(self, tokens: TokenSet) -> bool:
        return tokens.expires_at is not None and tokens.expires_at - self.margin <= self.clock.now()

    async def current(self) -> TokenSet:
        if self._expiring(self._tokens) and self._tokens.refresh_token:
            return await self._refresh(self._tokens)
        return self._tokens

    async def refresh(self) -> TokenSet:
        return await self._refresh(self._tokens)

    async def _refresh(self, seen: TokenSet) -> TokenSet:
        async with self._lock:
            if self._tokens is not seen:
                self.refresh_adopted = True
                return self._tokens  # another task refreshed while we waited
            if not self._tokens.refresh_token:
                raise AuthExpired(
                    f"the {self.platform.display_name} token expired and there is no refresh "
                    f"token: run `pellacia-dist auth login {self.platform.name}`",
                    platform=self.platform.name,
                )
            if self.context is None:
                raise RuntimeError("ManagedTokenSource used outside platform_context()")
            ctx = self.context

            refreshed = False

            async def do_refresh(stale: TokenSet) -> TokenSet:
                nonlocal refreshed
                refreshed = True
                return await self.platform.auth.refresh(ctx, client=self.client, tokens=stale)

            self._tokens = await self.store.refresh_locked(self._tokens, do_refresh)
            self.refresh_adopted = not refreshed
            self.refreshes += 1
            return self._tokens


class LazyTokenSource:
    """Loads an account's token source on first use.

    A platform that never asks for a token (one whose client is not written
    yet, say) then fails for its real reason, not for missing credentials;
    a load error (none stored, vault key missing) surfaces as ``AuthExpired``
    from the first ``current()``, inside the operation that needed it.
    """

    def __init__(self, load: Callable[[], Awaitable[ManagedTokenSource]]) -> None:
        self._load = load
        self._source: ManagedTokenSource | None = None
        self._lock = asyncio.Lock()
        self.context: PlatformContext | None = None  # handed on to the loaded source

    def __repr__(self) -> str:
        return f"LazyTokenSource(loaded={self._source is not None})"

    async def _get(self) -> ManagedTokenSource:
        async with self._lock:
            if self._source is None:
                self._source = await self._load()
                self._source.context = self.context
            return self._source

    async def current(self) -> TokenSet:
        return await (await self._get()).current()

    async def refresh(self) -> TokenSet:
        return await (await self._get()).refresh()

    @property
    def refresh_adopted(self) -> bool:
        """``ManagedTokenSource.refresh_adopted`` of the loaded source."""
        return self._source is not None and self._source.refresh_adopted


class StaticTokenSource:
    """A token that is never refreshed (platforms or tests without OAuth)."""

    def __init__(self, tokens: TokenSet) -> None:
        self._tokens = tokens

    def __repr__(self) -> str:
        return "StaticTokenSource()"

    async def current(self) -> TokenSet:
        return self._tokens

    async def refresh(self) -> TokenSet:
        raise AuthExpired("this token cannot be refreshed")


def platform_context(
    platform: Platform,
    *,
    account: str,
    http: aiohttp.ClientSession,
    tokens: ManagedTokenSource | LazyTokenSource | StaticTokenSource,
    clock: Clock = SYSTEM_CLOCK,
    settings: Mapping[str, Any] | None = None,
    sandbox_url: str | None = None,
    route: str = "direct",
    base_url: str | None = None,
) -> PlatformContext:
    """A ``PlatformContext`` wired to its token source (which refreshes through it).

    ``base_url``: the account's configured API base (``AccountSettings.base_url``).
    """
    ctx = PlatformContext(
        platform=platform.name,
        account=account,
        http=http,
        tokens=tokens,
        clock=clock,
        settings=dict(settings or {}),
        sandbox_url=sandbox_url,
        route=route,
        base_url=base_url,
    )
    if isinstance(tokens, ManagedTokenSource | LazyTokenSource):
        tokens.context = ctx
    return ctx


def oauth_client(settings: Any, platform: str | Platform, account: str) -> OAuthClient:
    """The OAuth app configured for (platform, account); the sandbox gets a test app.

    Given the ``Platform`` (not only its name), a flow that needs no client
    (``needs_client``: a static API key, most password grants) gets the
    configured one or ``NO_CLIENT``, never a ``ConfigError``.
    """
    name = platform if isinstance(platform, str) else platform.name
    required = True if isinstance(platform, str) else needs_client(platform.auth)
    configured = settings.account(name, account)
    if configured.client_id:
        secret = configured.client_secret.get_secret_value() if configured.client_secret else None
        return OAuthClient(configured.client_id, secret)
    if not required:
        return NO_CLIENT
    if settings.sandbox_url:
        return OAuthClient("sandbox-client", "sandbox-secret")
    from pellacia.errors import ConfigError

    raise ConfigError(
        f"no OAuth client for {name}/{account}: set client_id and client_secret under "
        f"[[accounts.{name}]] in the config file (see docs/configuration.md)"
    )
