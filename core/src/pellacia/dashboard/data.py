"""What the dashboard shows and does, through the same services as the CLI.

:class:`DatabaseSource` reads one :class:`Snapshot` per refresh (queue status,
manual queue, token health, recent events) and carries out the operator's
keys (retry, cancel, pause/resume an account).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pellacia.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from pellacia.config import Settings
    from pellacia.delivery.manual import ManualItem
    from pellacia.scheduling.service import QueueStatus

#: events shown
EVENTS_SHOWN = 30


@dataclass(frozen=True)
class TokenRow:
    platform: str
    account: str
    level: str
    text: str


@dataclass
class Snapshot:
    """One refresh's worth of facts."""

    status: QueueStatus
    manual: list[ManualItem] = field(default_factory=list)
    tokens: list[TokenRow] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    #: deliveries claimed, uploading or publishing (state, bytes, layer, route)
    in_flight: list[dict[str, Any]] = field(default_factory=list)

    @property
    def published_today(self) -> int:
        return sum(by.get("published", 0) for by in self.status.counts.values())


class DatabaseSource:
    """The dashboard's data straight from PostgreSQL (the CLI's services)."""

    def __init__(self, pool: Any, settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.pool = pool
        self.settings = settings
        self.clock = clock

    async def snapshot(self) -> Snapshot:
        from pellacia.delivery.manual import list_manual
        from pellacia.scheduling.service import queue_status
        from pellacia.store import deliveries, events

        now = self.clock.now()
        async with self.pool.acquire() as conn:
            status = await queue_status(conn, now)
            recent = await events.recent(conn, EVENTS_SHOWN)
            flying = [
                row
                for state in ("claimed", "uploading", "publishing")
                for row in await deliveries.in_state(conn, state)
            ]
        return Snapshot(
            status=status,
            manual=await list_manual(self.pool),
            tokens=await self._tokens(now),
            events=recent,
            in_flight=flying,
        )

    async def _tokens(self, now: datetime) -> list[TokenRow]:
        from pellacia.alerts.token_health import health
        from pellacia.errors import ConfigError
        from pellacia.vault import VaultError, open_vault

        key = self.settings.secret_key
        try:
            vault = open_vault(self.settings.data_dir, key.get_secret_value() if key else None)
            async with self.pool.acquire() as conn:
                infos = await vault.list(conn)
        except (ConfigError, VaultError) as exc:
            return [TokenRow("-", "-", "warning", f"vault unreadable: {exc}")]
        rows = []
        for info in infos:
            state = health(info, now)
            rows.append(TokenRow(info.platform, info.account, state.level, state.text))
        return rows

    async def retry(self, delivery_id: uuid.UUID, by: str) -> str:
        from pellacia.scheduling import service
        from pellacia.store import events

        async with self.pool.acquire() as conn:
            was = await service.retry(conn, delivery_id, self.clock.now())
            await events.record(
                conn,
                "operator.action",
                delivery_id=delivery_id,
                payload={"action": "retry", "by": by, "via": "dashboard"},
            )
        return f"{str(delivery_id)[:8]} queued again (was {was})"

    async def cancel(self, delivery_id: uuid.UUID, by: str) -> str:
        from pellacia.delivery.service import cancel_delivery
        from pellacia.store import events

        result = await cancel_delivery(self.pool, delivery_id)
        async with self.pool.acquire() as conn:
            await events.record(
                conn,
                "operator.action",
                delivery_id=delivery_id,
                payload={"action": "cancel", "by": by, "via": "dashboard"},
            )
        return f"{str(delivery_id)[:8]}: {result.outcome}"

    async def toggle_pause(self, platform: str, account: str, by: str) -> str:
        from pellacia.store import accounts

        now = self.clock.now()
        async with self.pool.acquire() as conn:
            if await accounts.resume(conn, platform, account, now=now, by=by):
                return f"{platform}/{account} resumed"
            await accounts.pause(
                conn,
                platform,
                account,
                now=now,
                until=None,
                reason="paused from the dashboard",
                by=by,
            )
        return f"{platform}/{account} paused"
