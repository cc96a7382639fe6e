"""What a plugin gets for one delivery, built in one place.

The :class:`~pellacia.contract.PublishRequest` (from the claimed row and the
account's default options), the account's token source (loaded lazily from the
vault or the plugin's config section), the :class:`PlatformContext` of an API
layer (HTTP session bound to the route) and the :class:`BrowserJob` of a
browser layer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pellacia.contract import (
    BrowserJob,
    MediaInfo,
    OAuthClient,
    Platform,
    PlatformContext,
    PublishRequest,
    RouteHandle,
    TokenSet,
)
from pellacia.errors import AuthExpired, ConfigError, RateLimited

if TYPE_CHECKING:
    import asyncpg

    from pellacia.clock import Clock
    from pellacia.config import Settings
    from pellacia.contract import Route
    from pellacia.store.models import ClaimedDelivery
    from pellacia.tokens import LazyTokenSource, ManagedTokenSource


def publish_request(claimed: ClaimedDelivery, settings: Settings) -> PublishRequest:
    """The delivery as its plugin sees it (account defaults under the post's overrides)."""
    m = claimed.media
    info = MediaInfo(
        path=Path(claimed.video_path),
        size=int(m["size"]),
        container=str(m.get("container", "mp4")),
        duration=float(m.get("duration", 0.0)),
        width=int(m.get("width", 0)),
        height=int(m.get("height", 0)),
        video_codec=m.get("video_codec"),
        audio_codec=m.get("audio_codec"),
        bitrate=m.get("bitrate"),
        fps=m.get("fps"),
    )
    options = {**settings.account(claimed.platform, claimed.account).options, **claimed.options}
    return PublishRequest(
        delivery_id=str(claimed.id),
        idempotency_key=claimed.idempotency_key,
        platform=claimed.platform,
        account=claimed.account,
        video=info,
        title=claimed.title,
        description=claimed.description,
        hashtags=claimed.hashtags,
        options=options,
        priority="breaking" if claimed.priority > 0 else "normal",
        scheduled_at=claimed.scheduled_at,
    )


def media_problem(claimed: ClaimedDelivery) -> str | None:
    """Why the submitted video can no longer be sent (gone, changed), or None."""
    path = Path(claimed.video_path)
    try:
        size = path.stat().st_size
    except OSError:
        return f"the video file {path} is gone; submit the post again"
    expected = int(claimed.media.get("size", size))
    if size != expected:
        return f"the video file {path} changed since it was submitted ({expected} → {size} bytes)"
    return None


class Contexts:
    """Builds plugin contexts for one worker (holds the opened vault between deliveries)."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, clock: Clock) -> None:
        self.pool = pool
        self.settings = settings
        self.clock = clock
        self._vault: Any = None

    @asynccontextmanager
    async def api(
        self, platform: Platform, claimed: ClaimedDelivery, route: Route
    ) -> AsyncIterator[PlatformContext]:
        """The route opened and a context bound to it, for the ``async with``."""
        from pellacia.http import client_session
        from pellacia.tokens import platform_context

        async with route.open() as handle, client_session(proxy=handle.proxy) as http:
            ctx = platform_context(
                platform,
                account=claimed.account,
                http=http,
                tokens=self.tokens(platform, claimed.account),
                clock=self.clock,
                settings=self.settings.plugins.get(platform.name, {}),
                sandbox_url=self.settings.sandbox_url,
                route=handle.name,
                base_url=self.settings.account(platform.name, claimed.account).base_url,
            )
            ctx.spender = self._spender(platform, claimed)
            yield ctx

    def _spender(
        self, platform: Platform, claimed: ClaimedDelivery
    ) -> Callable[[str], Awaitable[None]]:
        """``ctx.spend``: one use of a per-call budget, reserved through the store."""
        from pellacia.store import quotas

        async def spend(name: str) -> None:
            budget = next((b for b in platform.quotas if b.name == name and b.per_call), None)
            if budget is None:
                raise ValueError(f"{platform.name} declares no per-call budget {name!r}")
            async with self.pool.acquire() as conn, conn.transaction():
                wait = await quotas.reserve(
                    conn,
                    platform=platform.name,
                    account=claimed.account,
                    budgets=[budget],
                    now=self.clock.now(),
                    delivery_id=claimed.id,
                )
            if wait is not None:
                raise RateLimited(
                    f"{name} is used up until {wait.until:%H:%M:%S} UTC",
                    platform=platform.name,
                    reset_at=wait.until,
                    quota=name,
                )

        return spend

    def browser_job(
        self, request: PublishRequest, handle: RouteHandle, artifacts: Path
    ) -> BrowserJob:
        return BrowserJob(
            request=request,
            route=handle,
            artifacts_dir=artifacts,
            settings=self.settings.plugins.get(request.platform, {}),
            sandbox_url=self.settings.sandbox_url,
        )

    def tokens(self, platform: Platform, account: str) -> LazyTokenSource:
        """The account's tokens, loaded when the plugin first asks: vault-backed
        when stored; else from the plugin's config section (sandboxes, test
        platforms); else ``AuthExpired`` naming the fix."""
        from pellacia.tokens import LazyTokenSource

        async def load() -> ManagedTokenSource:
            stored = await self._from_vault(platform, account)
            return stored or self._from_config(platform, account)

        return LazyTokenSource(load)

    async def _from_vault(self, platform: Platform, account: str) -> ManagedTokenSource | None:
        from pellacia.tokens import ManagedTokenSource, VaultTokenStore, oauth_client
        from pellacia.vault import VaultError, open_vault

        try:
            if self._vault is None:
                key = self.settings.secret_key
                self._vault = open_vault(
                    self.settings.data_dir, key.get_secret_value() if key else None
                )
            async with self.pool.acquire() as conn:
                stored = await self._vault.get(conn, platform.name, account)
            if stored is None:
                return None
            store = VaultTokenStore(self.pool, self._vault, platform.name, account)
            # the platform, not its name: a flow that needs no OAuth app gets none
            client = oauth_client(self.settings, platform, account)
        except (VaultError, ConfigError) as exc:
            raise AuthExpired(
                f"the credentials of {platform.name}/{account} cannot be used: {exc}",
                platform=platform.name,
            ) from None
        return ManagedTokenSource(platform, client, stored, store=store, clock=self.clock)

    def _from_config(self, platform: Platform, account: str) -> ManagedTokenSource:
        from pellacia.tokens import ManagedTokenSource

        section = self.settings.plugins.get(platform.name, {})
        if not section.get("access_token"):
            raise AuthExpired(
                f"no credentials stored for {platform.name}/{account}: run "
                f"`pellacia-dist auth login {platform.name} --account {account}`",
                platform=platform.name,
            )
        tokens = TokenSet(
            access_token=str(section["access_token"]),
            refresh_token=section.get("refresh_token"),
        )
        client = OAuthClient(str(section.get("client_id", "static")))
        return ManagedTokenSource(platform, client, tokens, clock=self.clock)
