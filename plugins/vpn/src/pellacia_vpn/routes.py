"""VPN and proxy routes: how the ``+vpn`` layers reach a platform.

Configured in the plugin's own section, one table per route::

    [plugins.vpn]
    check_url = "https://api.ipify.org?format=json"   # health probe target
    [plugins.vpn.routes.nl]
    kind = "proxy"                       # or "openvpn" / "wireguard"
    url = "socks5://user:pass@proxy.example:1080"
    platforms = ["tiktok", "instagram"]  # empty or absent: every platform

plus every route ``pellacia-dist vpn import`` put in the routes directory
(``dir``, default ``<data dir>/vpn``). Each becomes a ``Route`` named
``vpn:<name>``. A proxy route checks, when opened, that the proxy accepts
TCP connections, then hands its URL to core's HTTP session factory. A tunnel
route (OpenVPN, WireGuard) is brought up in its own network namespace the
first time it is opened (:mod:`pellacia_vpn.tunnel`) and handed out as the
URL of its SOCKS5 egress.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from pellacia.config_check import mask_url
from pellacia.contract import Alert, RouteHandle
from pellacia.errors import ConfigError, Transient, Unsupported
from pydantic import BaseModel, Field, SecretStr

from pellacia_vpn.health import Policy
from pellacia_vpn.netns import missing_privileges
from pellacia_vpn.sealed import open_credentials
from pellacia_vpn.supervisor import Options, Supervisor
from pellacia_vpn.tunnel import Credentials

DISTRIBUTION = "pellacia-dist-vpn 0.2"
PROXY_SCHEMES: dict[str, int] = {
    "http": 80,
    "https": 443,
    "socks4": 1080,
    "socks5": 1080,
    "socks5h": 1080,
}
DEFAULT_CONNECT_TIMEOUT = 5.0
TUNNEL_BINARIES: dict[str, tuple[str, ...]] = {
    "openvpn": ("openvpn", "microsocks"),
    "wireguard": ("wireguard-go", "wg", "microsocks"),
}
M = TypeVar("M", bound=BaseModel)
APT_PACKAGE = {"wg": "wireguard-tools"}
MAX_ROUTES = 250  # per-route /30s in the proxy subnet, and link names under 15 chars


class RouteSettings(BaseModel):
    """One ``[plugins.vpn.routes.<name>]`` table (or an imported route's ``<name>.json``)."""

    kind: Literal["proxy", "openvpn", "wireguard"] = "proxy"
    url: SecretStr | None = None  # http://user:pass@host:port or socks5://...
    config_file: Path | None = None
    platforms: list[str] = Field(default_factory=list)  # empty: every platform
    username: str | None = None  # the password is sealed in <config_file>.auth
    openvpn_args: list[str] = Field(default_factory=list)  # e.g. a --data-ciphers fix


class PluginSettings(BaseModel):
    """``[plugins.vpn]`` itself (besides ``routes``)."""

    dir: Path | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    prefix: str = Field("pdv", pattern=r"^[a-z]{2,4}$")
    subnet: str = "10.201.0.0/16"
    check_url: str | None = None
    probe_interval: float = 5.0
    probe_timeout: float = 3.0
    up_timeout: float = 20.0
    fail_threshold: int = 2
    cooldown: float = 30.0
    rebuild_after: float = 60.0

    def options(self) -> Options:
        policy = Policy(self.fail_threshold, self.cooldown, self.rebuild_after)
        return Options(
            self.prefix,
            self.subnet,
            self.check_url,
            self.probe_interval,
            self.probe_timeout,
            self.up_timeout,
            policy,
        )


@dataclass(frozen=True)
class ProxyRoute:
    """A route through an HTTP(S) or SOCKS proxy."""

    route: str  # the configured name, "nl"
    url: str = field(repr=False)  # may carry credentials
    platforms: tuple[str, ...] = ()
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    check_url: str | None = None  # what `vpn check` probes through the proxy
    kind: Literal["direct", "proxy"] = "proxy"

    @property
    def name(self) -> str:
        return f"vpn:{self.route}"

    @property
    def safe_url(self) -> str:
        """The proxy URL with its password masked (for messages)."""
        return mask_url(self.url)

    def __repr__(self) -> str:
        return f"<ProxyRoute {self.name} {self.safe_url}>"

    def serves(self, platform: str) -> bool:
        """Whether this route may carry ``platform``'s traffic."""
        return not self.platforms or platform in self.platforms

    @asynccontextmanager
    async def open(self) -> AsyncIterator[RouteHandle]:
        """Check the proxy answers, then hold the route; ``Transient`` when it does not."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        port = parts.port or PROXY_SCHEMES[parts.scheme]
        await check_reachable(
            host, port, self.connect_timeout, what=f"route {self.name}: proxy {self.safe_url}"
        )
        yield RouteHandle(name=self.name, proxy=self.url)


class TunnelRoute:
    """An OpenVPN or WireGuard tunnel in its own network namespace.

    ``open()`` brings it up the first time (lazily; it stays up until the
    supervisor closes) and hands out its SOCKS5 egress as the proxy URL
    (aiohttp-socks resolves names remotely, inside the tunnel). ``health``
    and ``score`` say how the probes find it; the executor tries routes by
    ascending ``score``.
    """

    kind: Literal["direct", "proxy"] = "proxy"

    def __init__(
        self,
        route: str,
        tunnel: Literal["openvpn", "wireguard"],
        config_file: Path,
        *,
        index: int,
        supervisor: Supervisor,
        platforms: tuple[str, ...] = (),
        auth_file: Path | None = None,
        username: str | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.route = route
        self.tunnel = tunnel
        self.config_file = config_file
        self.index = index
        self.supervisor = supervisor
        self.platforms = platforms
        self.auth_file = auth_file
        self.username = username
        self.extra_args = extra_args

    @property
    def name(self) -> str:
        return f"vpn:{self.route}"

    def __repr__(self) -> str:
        return f"<TunnelRoute {self.name} {self.tunnel}>"

    def serves(self, platform: str) -> bool:
        return not self.platforms or platform in self.platforms

    @property
    def health(self) -> str:
        """``unknown`` / ``up`` / ``degraded`` / ``down`` (from the probes)."""
        return self.supervisor.health_of(self.route).state

    @property
    def score(self) -> float:
        """Lower is better: 0 up or untried, 10 degraded, 20 down, 100 cooling off after failures."""
        return self.supervisor.health_of(self.route).score(time.monotonic())

    @property
    def proxy_url(self) -> str:
        return self.supervisor.names(self).proxy_url

    def on_alert(self, send: Callable[[Alert], object]) -> None:
        """Hand this route's events (down, up again, every route down) to ``send``
        (core's executor subscribes: they are recorded and sent as alerts)."""
        self.supervisor.on_alert = send

    def missing(self) -> list[str]:
        """What this machine lacks to bring the tunnel up (empty: everything is there)."""
        problems = []
        for binary in TUNNEL_BINARIES[self.tunnel]:
            if shutil.which(binary) is None:
                problems.append(
                    f"the {binary} program is not installed (apt-get install "
                    f"--no-install-recommends {APT_PACKAGE.get(binary, binary)})"
                )
        if not self.config_file.is_file():
            problems.append(f"config file {self.config_file} does not exist")
        elif not os.access(self.config_file, os.R_OK):
            problems.append(f"config file {self.config_file} is not readable")
        privileges = missing_privileges()
        if privileges:
            problems.append(privileges)
        return problems

    def credentials(self) -> Credentials | None:
        """The provider user name and password (sealed at import), if the route has any."""
        if self.auth_file is None or not self.auth_file.exists():
            if self.username:
                raise ConfigError(
                    f"route {self.name}: no stored password; import the route again with --username"
                )
            return None
        return open_credentials(self.auth_file.parent.parent, self.route, self.auth_file)

    @asynccontextmanager
    async def open(self) -> AsyncIterator[RouteHandle]:
        """Bring the tunnel up if needed; ``Unsupported`` saying what is missing."""
        problems = self.missing()
        label = "OpenVPN" if self.tunnel == "openvpn" else "WireGuard"
        if problems:
            raise Unsupported(f"route {self.name} ({label}) cannot be used: {'; '.join(problems)}")
        health = self.supervisor.health_of(self.route)
        if not health.usable(time.monotonic()):
            raise Transient(
                f"route {self.name} is down (cooling off): {health.last_failure}", network=True
            )
        tunnel = await self.supervisor.ensure_up(self)
        yield RouteHandle(name=self.name, proxy=tunnel.names.proxy_url)


Route = ProxyRoute | TunnelRoute


async def check_reachable(host: str, port: int, limit: float, *, what: str) -> None:
    """Open and close one TCP connection to ``host:port``; ``Transient`` if it fails."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), limit)
    except TimeoutError:
        raise Transient(f"{what} did not answer within {limit:g} s", network=True) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise Transient(f"{what} is unreachable: {reason}", network=True) from None
    writer.close()
    with suppress(OSError):
        await writer.wait_closed()


def default_routes_dir() -> Path:
    from pellacia.config import default_data_dir

    return default_data_dir() / "vpn"


def parse_routes(section: Mapping[str, Any], supervisor: Supervisor | None = None) -> list[Route]:
    """The routes of ``[plugins.vpn]`` and the imported ones; ``ConfigError`` naming a bad one."""
    raw = section.get("routes") or {}
    if not isinstance(raw, Mapping):
        raise ConfigError("[plugins.vpn] routes must be a table of [plugins.vpn.routes.<name>]")
    plugin = _validate(
        PluginSettings, {k: v for k, v in section.items() if k != "routes"}, "[plugins.vpn]"
    )
    supervisor = supervisor or Supervisor(plugin.options())
    tables = {name: (spec, f"[plugins.vpn.routes.{name}]") for name, spec in raw.items()}
    tables.update(imported_routes(plugin.dir or default_routes_dir(), exclude=set(tables)))
    routes: list[Route] = []
    for index, (name, (spec, where)) in enumerate(sorted(tables.items()), start=1):
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where} must be a table")
        settings = _validate(RouteSettings, dict(spec), where)
        platforms = tuple(settings.platforms)
        if settings.kind == "proxy":
            routes.append(_proxy(name, where, settings, platforms, plugin))
            continue
        if settings.config_file is None:
            raise ConfigError(f"{where} needs config_file (the provider's .ovpn or wg-quick file)")
        if index > MAX_ROUTES:
            raise ConfigError(f"at most {MAX_ROUTES} routes")
        auth = settings.config_file.with_suffix(".auth")
        routes.append(
            TunnelRoute(
                name,
                settings.kind,
                settings.config_file,
                index=index,
                supervisor=supervisor,
                platforms=platforms,
                auth_file=auth if auth.exists() else None,
                username=settings.username,
                extra_args=tuple(settings.openvpn_args),
            )
        )
    return routes


def imported_routes(directory: Path, exclude: set[str]) -> dict[str, tuple[Any, str]]:
    """The routes ``vpn import`` wrote: ``<name>.json`` beside the provider's file."""
    found: dict[str, tuple[Any, str]] = {}
    if not directory.is_dir():
        return found
    for meta in sorted(directory.glob("*.json")):
        if meta.stem in exclude:
            continue  # a table in the config file wins
        try:
            found[meta.stem] = (json.loads(meta.read_text()), f"imported route {meta.name}")
        except (OSError, ValueError) as exc:
            raise ConfigError(f"imported route {meta.name} cannot be read: {exc}") from None
    return found


def _validate(model: type[M], data: dict[str, Any], where: str) -> M:
    try:
        return model.model_validate(data)
    except ValueError as exc:
        fields = ", ".join(
            ".".join(str(p) for p in err["loc"]) for err in getattr(exc, "errors", lambda: [])()
        )
        raise ConfigError(f"{where} is invalid ({fields or 'see the documentation'})") from None


def _proxy(
    name: str,
    where: str,
    settings: RouteSettings,
    platforms: tuple[str, ...],
    plugin: PluginSettings,
) -> ProxyRoute:
    if settings.url is None:
        raise ConfigError(f"{where} needs a url (http://user:pass@host:port or socks5://…)")
    url = settings.url.get_secret_value()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        raise ConfigError(f"{where} url is not a valid URL") from None
    if parts.scheme not in PROXY_SCHEMES:
        raise ConfigError(
            f"{where} url scheme {parts.scheme!r} is not supported "
            f"(use one of {', '.join(PROXY_SCHEMES)})"
        )
    if not parts.hostname:
        raise ConfigError(f"{where} url has no host")
    return ProxyRoute(
        route=name,
        url=url,
        platforms=platforms,
        connect_timeout=plugin.connect_timeout,
        check_url=plugin.check_url,
    )
