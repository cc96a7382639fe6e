"""Send an alert to every sink; one failing or slow sink never stops the others.

pluggy would stop a fan-out at the first exception, so core calls each sink
itself, each with its own try/except and time limit. ``record_alert`` writes
the alert to the events outbox too (durable, even when every sink is down).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from pellacia.contract import Alert, AlertLevel, AlertSink
from pellacia.log import get_logger
from pellacia.store import events

_ORDER: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


def level_at_least(level: AlertLevel, minimum: AlertLevel) -> bool:
    return _ORDER[level] >= _ORDER[minimum]


class AlertDispatcher:
    """Fans alerts out to sinks at or above ``min_level``."""

    def __init__(
        self,
        sinks: Sequence[AlertSink],
        min_level: AlertLevel = "warning",
        *,
        timeout: float = 10.0,
    ) -> None:
        self.sinks = list(sinks)
        self.min_level = min_level
        self.timeout = timeout
        #: alerts sent by this dispatcher (newest last), for status displays
        self.sent: list[Alert] = []

    async def send(self, alert: Alert) -> dict[str, str | None]:
        """Send to every sink concurrently; returns sink name -> error (None = ok)."""
        if not level_at_least(alert.level, self.min_level):
            return {}
        self.sent.append(alert)
        results = await asyncio.gather(*(self._one(sink, alert) for sink in self.sinks))
        return dict(results)

    async def _one(self, sink: AlertSink, alert: Alert) -> tuple[str, str | None]:
        name = getattr(sink, "name", type(sink).__name__)
        try:
            await asyncio.wait_for(sink.send(alert), self.timeout)
        except Exception as exc:  # isolate each sink; the others still get the alert
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            get_logger("pellacia.alerts").warning("alert sink failed", sink=name, error=reason)
            return name, reason
        return name, None


async def record_alert(conn: Any, alert: Alert, *, post_id: Any = None) -> int:
    """Write the alert to the events outbox (kind ``alert``)."""
    import uuid

    delivery = uuid.UUID(alert.delivery_id) if alert.delivery_id else None
    return await events.record(
        conn,
        "alert",
        post_id=post_id,
        delivery_id=delivery,
        payload={
            "level": alert.level,
            "title": alert.title,
            "body": alert.body,
            "platform": alert.platform,
        },
    )
