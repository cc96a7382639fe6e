"""VPN and proxy routes: how the ``+vpn`` layers reach a platform.

Configured in the plugin's own section, one table per route::

    [plugins.vpn.routes.nl]
    kind = "proxy"                       # or "openvpn" / "wireguard"
    url = "socks5://user:pass@proxy.example:1080"
    platforms = ["tiktok", "instagram"]  # empty or absent: every platform

Each becomes a ``Route`` named ``vpn:<name>``. A proxy route checks, when
opened, that the proxy accepts TCP connections (a short timeout), then hands
its URL to core's HTTP session factory (http://, https:// and, through
aiohttp-socks, socks4:// / socks5:// / socks5h://). Tunnel routes (OpenVPN,
WireGuard) need root and the tunnel's binaries; this version detects what is
missing and says so, but does not bring tunnels up itself.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pellacia.config_check import mask_url
from pellacia.contract import RouteHandle
from pellacia.errors import ConfigError, Transient, Unsupported
from pydantic import BaseModel, Field, SecretStr

DISTRIBUTION = "pellacia-dist-vpn 0.1"
PROXY_SCHEMES: dict[str, int] = {
    "http": 80,
    "https": 443,
    "socks4": 1080,
    "socks5": 1080,
    "socks5h": 1080,
}
DEFAULT_CONNECT_TIMEOUT = 5.0
TUNNEL_BINARIES: dict[str, tuple[str, ...]] = {
    "openvpn": ("openvpn",),
    "wireguard": ("wg-quick", "wg"),
}


class RouteSettings(BaseModel):
    """One ``[plugins.vpn.routes.<name>]`` table."""

    kind: Literal["proxy", "openvpn", "wireguard"] = "proxy"
    url: SecretStr | None = None  # http://user:pass@host:port or socks5://...
    config_file: Path | None = None
    platforms: list[str] = Field(default_factory=list)  # empty: every platform


@dataclass(frozen=True)
class ProxyRoute:
    """A route through an HTTP(S) or SOCKS proxy."""

    route: str  # the configured name, "nl"
    url: str = field(repr=False)  # may carry credentials
    platforms: tuple[str, ...] = ()
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
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


@dataclass(frozen=True)
class TunnelRoute:
    """An OpenVPN or WireGuard tunnel. Detected, not brought up, in this version."""

    route: str
    tunnel: Literal["openvpn", "wireguard"]
    config_file: Path | None
    platforms: tuple[str, ...] = ()
    kind: Literal["direct", "proxy"] = "proxy"

    @property
    def name(self) -> str:
        return f"vpn:{self.route}"

    def __repr__(self) -> str:
        return f"<TunnelRoute {self.name} {self.tunnel}>"

    def serves(self, platform: str) -> bool:
        return not self.platforms or platform in self.platforms

    def missing(self) -> list[str]:
        """What this machine lacks to bring the tunnel up (empty: everything is there)."""
        problems = []
        binaries = TUNNEL_BINARIES[self.tunnel]
        if not any(shutil.which(binary) for binary in binaries):
            problems.append(
                f"the {' or '.join(binaries)} program is not installed "
                f"(e.g. apt-get install {'openvpn' if self.tunnel == 'openvpn' else 'wireguard-tools'})"
            )
        if self.config_file is None:
            problems.append("no config_file is set")
        elif not self.config_file.is_file():
            problems.append(f"config file {self.config_file} does not exist")
        elif not os.access(self.config_file, os.R_OK):
            problems.append(f"config file {self.config_file} is not readable")
        if hasattr(os, "geteuid") and os.geteuid() != 0:
            problems.append("bringing a tunnel up needs root")
        return problems

    @asynccontextmanager
    async def open(self) -> AsyncIterator[RouteHandle]:
        """Always ``Unsupported``: explains what is missing, or that bring-up is not built."""
        problems = self.missing()
        label = "OpenVPN" if self.tunnel == "openvpn" else "WireGuard"
        if problems:
            raise Unsupported(f"route {self.name} ({label}) cannot be used: {'; '.join(problems)}")
        raise Unsupported(
            f"route {self.name}: bringing {label} tunnels up is not implemented yet in "
            f"{DISTRIBUTION}; run the tunnel as a system service and configure a proxy "
            "route through it, the delivery falls through to the next layer"
        )
        yield RouteHandle(name=self.name)  # pragma: no cover  (makes this a generator)


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


def parse_routes(section: Mapping[str, Any]) -> list[Route]:
    """The routes of ``[plugins.vpn]``; ``ConfigError`` naming the route on a mistake."""
    raw = section.get("routes") or {}
    if not isinstance(raw, Mapping):
        raise ConfigError("[plugins.vpn] routes must be a table of [plugins.vpn.routes.<name>]")
    timeout = float(section.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT))
    routes: list[Route] = []
    for name, spec in raw.items():
        where = f"[plugins.vpn.routes.{name}]"
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where} must be a table")
        try:
            settings = RouteSettings.model_validate(dict(spec))
        except ValueError as exc:
            fields = ", ".join(
                ".".join(str(p) for p in err["loc"]) for err in getattr(exc, "errors", lambda: [])()
            )
            raise ConfigError(f"{where} is invalid ({fields or 'see the documentation'})") from None
        platforms = tuple(settings.platforms)
        if settings.kind == "proxy":
            routes.append(_proxy(name, where, settings, platforms, timeout))
        else:
            routes.append(
                TunnelRoute(
                    route=name,
                    tunnel=settings.kind,
                    config_file=settings.config_file,
                    platforms=platforms,
                )
            )
    return routes


def _proxy(
    name: str, where: str, settings: RouteSettings, platforms: tuple[str, ...], timeout: float
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
    return ProxyRoute(route=name, url=url, platforms=platforms, connect_timeout=timeout)
