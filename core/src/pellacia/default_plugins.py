"""Core's own behaviour, registered through the same hooks as any plugin:
the direct route, the log alert sink and the basic validators."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Literal

from pellacia.contract import (
    Alert,
    AlertSink,
    Platform,
    PublishRequest,
    Route,
    RouteHandle,
    RuleViolation,
    Validator,
)
from pellacia.hookspecs import hookimpl

PLUGIN_API_VERSION = 1


class DirectRoute:
    """Reach the platform straight from this machine."""

    name = "direct"
    kind: Literal["direct", "proxy"] = "direct"

    @asynccontextmanager
    async def open(self) -> AsyncIterator[RouteHandle]:
        yield RouteHandle(name=self.name, proxy=None)


class LogAlertSink:
    """Every alert goes to the log, whatever other sinks do."""

    name = "log"

    async def send(self, alert: Alert) -> None:
        from pellacia.log import get_logger

        log = get_logger("pellacia.alerts")
        method = {"info": log.info, "warning": log.warning, "critical": log.error}[alert.level]
        method(alert.title, body=alert.body, platform=alert.platform, delivery=alert.delivery_id)


class MediaRulesValidator:
    """The platform's own media rules (container, size, duration, sides, codecs)."""

    name = "media-rules"

    def validate(self, request: PublishRequest, platform: Platform) -> Sequence[RuleViolation]:
        from pellacia.media import check_rules

        return check_rules(
            platform.media_rules,
            request.video,
            title=request.title,
            description=request.caption,
            platform=platform.name,
            display_name=platform.display_name,
        )


@hookimpl
def register_routes(register: Callable[[Route], None]) -> None:
    register(DirectRoute())


@hookimpl
def register_alert_sinks(register: Callable[[AlertSink], None]) -> None:
    register(LogAlertSink())


@hookimpl
def register_validators(register: Callable[[Validator], None]) -> None:
    register(MediaRulesValidator())
