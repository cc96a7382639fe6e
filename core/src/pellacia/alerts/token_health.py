"""Token health: refresh ahead of expiry, warn before a token dies (DESIGN §10).

The worker runs :meth:`TokenHealth.run_once` on a timer. For every stored
credential it

* refreshes the access token when it ends within ``REFRESH_AHEAD`` (so no
  upload starts with a token about to die), and also once a day when the
  refresh or long-lived token nears its end: platforms that can extend it do
  so on refresh (Meta re-exchanges its 60-day user token);
* warns (alert, recorded as an event) when the refresh or long-lived token
  still dies within ``warn_days`` (LinkedIn 365 days, Meta 60, YouTube 7 on a
  "Testing" consent screen): someone must log in again before then. Critical
  once it has died or dies within a day. At most one warning per account per
  day per worker; the Telegram sink groups repeats anyway.

:func:`health` is what ``auth list`` shows for each account.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pellacia.clock import SYSTEM_CLOCK, Clock
from pellacia.contract import Alert, AlertLevel
from pellacia.log import get_logger

if TYPE_CHECKING:
    from pellacia.config import Settings
    from pellacia.plugins import Registry
    from pellacia.vault import CredentialInfo

#: refresh an access token that ends within this
REFRESH_AHEAD = timedelta(minutes=15)
#: warn this many days before a refresh or long-lived token dies
WARN_DAYS = 7
#: how often the worker's timer looks (minutes)
CHECK_MINUTES = 5
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Health:
    """One account's token health: ``ok``, ``warning`` or ``critical``, and why."""

    level: str
    text: str


def health(info: CredentialInfo, now: datetime, warn_days: int = WARN_DAYS) -> Health:
    """How ``info``'s tokens stand at ``now`` (never reads a token)."""
    dies = info.refresh_expires_at
    if dies is not None and dies <= now:
        return Health("critical", f"dead since {dies:%Y-%m-%d}: log in again")
    if dies is not None and dies - now < timedelta(days=warn_days):
        days = max(0, (dies - now).days)
        level = "critical" if dies - now < _DAY else "warning"
        return Health(level, f"dies in {days} d ({dies:%Y-%m-%d %H:%M} UTC): log in again")
    if info.expires_at is not None and info.expires_at <= now:
        return Health("warning", "access token expired: refreshed on next use")
    if info.expires_at is not None and info.expires_at - now < REFRESH_AHEAD:
        return Health("ok", "refresh due")
    return Health("ok", "ok")


class TokenHealth:
    """The worker's token timer (see the module docstring)."""

    def __init__(
        self,
        pool: Any,
        settings: Settings,
        registry: Registry,
        *,
        clock: Clock = SYSTEM_CLOCK,
        warn_days: int = WARN_DAYS,
        sinks: Sequence[Any] | None = None,
    ) -> None:
        from pellacia.alerts.dispatch import AlertDispatcher

        self.pool = pool
        self.settings = settings
        self.registry = registry
        self.clock = clock
        self.warn_days = warn_days
        self.alerts = AlertDispatcher(
            registry.alert_sinks if sinks is None else sinks, settings.alerts.min_level
        )
        self._warned: dict[tuple[str, str], datetime] = {}
        self._stretched: dict[tuple[str, str], datetime] = {}
        self.refreshed: list[tuple[str, str]] = []  #: accounts refreshed (newest last)

    async def run_once(self) -> None:
        """One look at every stored credential: refresh what is due, warn what dies."""
        from pellacia.vault import open_vault

        key = self.settings.secret_key
        vault = open_vault(self.settings.data_dir, key.get_secret_value() if key else None)
        async with self.pool.acquire() as conn:
            infos = await vault.list(conn)
        for info in infos:
            platform = self.registry.platforms.get(info.platform)
            if platform is None:
                continue
            now = self.clock.now()
            if self._due(info, now):
                info = await self._refresh(platform, info, vault)
            await self._warn(info, now)

    def _due(self, info: CredentialInfo, now: datetime) -> bool:
        if info.expires_at is not None and info.expires_at - now < REFRESH_AHEAD:
            return True
        dies = info.refresh_expires_at
        if dies is None or dies - now >= timedelta(days=self.warn_days):
            return False
        last = self._stretched.get((info.platform, info.account))
        if last is not None and now - last < _DAY:
            return False
        self._stretched[(info.platform, info.account)] = now
        return True

    async def _refresh(self, platform: Any, info: CredentialInfo, vault: Any) -> CredentialInfo:
        from pellacia.delivery.context import Contexts
        from pellacia.http import client_session
        from pellacia.tokens import platform_context

        tokens = Contexts(self.pool, self.settings, self.clock).tokens(platform, info.account)
        log = get_logger("pellacia.tokens")
        try:
            async with client_session() as http:
                platform_context(
                    platform,
                    account=info.account,
                    http=http,
                    tokens=tokens,
                    clock=self.clock,
                    settings=self.settings.plugins.get(platform.name, {}),
                    sandbox_url=self.settings.sandbox_url,
                    base_url=self.settings.account(platform.name, info.account).base_url,
                )
                await tokens.refresh()
        except Exception as exc:  # one account's failure never stops the others
            log.warning(
                "token refresh failed", platform=info.platform, account=info.account, error=str(exc)
            )
            await self._send(
                "warning",
                f"{info.platform}/{info.account}: token refresh failed",
                f"{exc}\nThe next upload will try again; if it keeps failing, run "
                f"`pellacia-dist auth login {info.platform} --account {info.account}`.",
                info.platform,
            )
            return info
        self.refreshed.append((info.platform, info.account))
        log.info("token refreshed ahead of expiry", platform=info.platform, account=info.account)
        async with self.pool.acquire() as conn:
            found: list[CredentialInfo] = [
                i
                for i in await vault.list(conn)
                if (i.platform, i.account) == (info.platform, info.account)
            ]
        if not found:
            return info
        if found[0].refresh_expires_at is None and info.refresh_expires_at is not None:
            # a refresh answer without the date says nothing new: keep warning by the old one
            return replace(found[0], refresh_expires_at=info.refresh_expires_at)
        return found[0]

    async def _warn(self, info: CredentialInfo, now: datetime) -> None:
        state = health(info, now, self.warn_days)
        if state.level == "ok" or info.refresh_expires_at is None:
            return
        key = (info.platform, info.account)
        last = self._warned.get(key)
        if last is not None and now - last < _DAY:
            return
        self._warned[key] = now
        level: AlertLevel = "critical" if state.level == "critical" else "warning"
        await self._send(
            level,
            f"{info.platform}/{info.account}: sign-in {state.text.split(':')[0]}",
            f"Run `pellacia-dist auth login {info.platform} --account {info.account}` "
            "before then, or its posts will wait for a person.",
            info.platform,
        )

    async def _send(self, level: AlertLevel, title: str, body: str, platform: str) -> None:
        from pellacia.alerts.dispatch import record_alert

        alert = Alert(level=level, title=title, body=body, platform=platform, at=self.clock.now())
        async with self.pool.acquire() as conn:
            await record_alert(conn, alert)
        await self.alerts.send(alert)
