"""A plugin of the current contract: every hook, with every argument it offers.

Its ``[plugins.test-contract]`` table reaches it only through the hooks, and
what it registers carries values from that table, so a test sees they arrived.
Its ``contract-probe`` command prints what the command context gives.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import click
from pellacia.contract import (
    Alert,
    AlertSink,
    BrowserJob,
    BrowserUploader,
    Capabilities,
    MediaRules,
    MetricsSnapshot,
    MigrationSource,
    Platform,
    PlatformContext,
    PublishRequest,
    RemotePost,
    Route,
    RouteHandle,
    RuleViolation,
    UploadReceipt,
    UploadSession,
    Validator,
)
from pellacia.errors import Unsupported
from pellacia.hookspecs import hookimpl

if TYPE_CHECKING:
    from pellacia.cli.context import CommandContext

PLUGIN_API_VERSION = 1


@dataclass
class ContractPlatform:
    """A platform that can only be registered: every operation is unsupported."""

    display_name: str
    name: str = "contract"
    capabilities: Capabilities = field(default_factory=Capabilities)
    media_rules: MediaRules = field(default_factory=MediaRules)
    auth: Any = None
    quotas: Sequence[Any] = ()

    async def upload(
        self, request: PublishRequest, session: UploadSession, ctx: PlatformContext
    ) -> UploadReceipt:
        raise Unsupported("contract test platform")

    async def publish(
        self, request: PublishRequest, receipt: UploadReceipt, ctx: PlatformContext
    ) -> RemotePost:
        raise Unsupported("contract test platform")

    async def reconcile(
        self, request: PublishRequest, receipt: UploadReceipt | None, ctx: PlatformContext
    ) -> RemotePost | None:
        raise Unsupported("contract test platform")

    async def fetch_metrics(
        self, posts: Sequence[RemotePost], ctx: PlatformContext
    ) -> list[MetricsSnapshot]:
        raise Unsupported("contract test platform")


@dataclass
class ContractRoute:
    name: str
    kind: Literal["direct", "proxy"] = "direct"

    @asynccontextmanager
    async def open(self) -> AsyncIterator[RouteHandle]:
        yield RouteHandle(name=self.name)


@dataclass
class ContractUploader:
    platform: str

    async def upload(self, job: BrowserJob) -> RemotePost:
        raise Unsupported("contract test uploader")


@dataclass
class ContractSink:
    name: str
    sent: list[Alert] = field(default_factory=list)

    async def send(self, alert: Alert) -> None:
        self.sent.append(alert)


@dataclass
class ContractValidator:
    name: str

    def validate(self, request: PublishRequest, platform: Platform) -> Sequence[RuleViolation]:
        return []


@hookimpl
def register_platforms(register: Callable[[Platform], None], settings: Mapping[str, Any]) -> None:
    register(ContractPlatform(display_name=settings.get("display_name", "unset")))


@hookimpl
def register_routes(register: Callable[[Route], None], settings: Mapping[str, Any]) -> None:
    register(ContractRoute(name=f"contract:{settings.get('route', 'unset')}"))


@hookimpl
def register_browser_uploaders(
    register: Callable[[BrowserUploader], None], settings: Mapping[str, Any]
) -> None:
    register(ContractUploader(platform=settings.get("browser_platform", "unset")))


@hookimpl
def register_alert_sinks(
    register: Callable[[AlertSink], None], settings: Mapping[str, Any]
) -> None:
    register(ContractSink(name=f"contract:{settings.get('sink', 'unset')}"))


@hookimpl
def register_validators(register: Callable[[Validator], None], settings: Mapping[str, Any]) -> None:
    register(ContractValidator(name=f"contract:{settings.get('validator', 'unset')}"))


@hookimpl
def register_migrations(
    register: Callable[[MigrationSource], None], settings: Mapping[str, Any]
) -> None:
    register(MigrationSource(owner=settings.get("owner", "unset"), package=__name__))


@hookimpl
def register_commands(cli: click.Group, context: CommandContext) -> None:
    @cli.command("contract-probe")
    def probe() -> None:
        """Print what the command context gives (for the contract tests)."""

        async def user_agent() -> str:
            async with context.client_session() as http:
                return http.headers["User-Agent"]

        click.echo(
            json.dumps(
                {
                    "settings": dict(context.settings),
                    "sandbox_url": context.sandbox_url,
                    "config_has_plugins": sorted(context.config.plugins),
                    "user_agent": asyncio.run(user_agent()),
                }
            )
        )
