"""The layers of a fallback chain (DESIGN §4) as types, and which of them can run here.

The config names layers with strings (``api``, ``api+vpn``, ``browser``,
``browser+vpn``, ``manual``); :meth:`Layer.parse` turns each into a
:class:`Layer`, whose :attr:`~Layer.kind` and :attr:`~Layer.via_vpn` say what
it is, so no code parses the names.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pellacia.contract import Route
    from pellacia.plugins import Registry


#: the distribution that drives platforms' web pages (one page script per platform)
BROWSER_PLUGIN = "pellacia-dist-browser"


class LayerKind(enum.Enum):
    """What a layer does: talk to the platform's API, drive its web page, or ask a person."""

    API = "api"
    BROWSER = "browser"
    MANUAL = "manual"


class Layer(enum.StrEnum):
    """One step of a fallback chain; the value is its name in the config."""

    API = "api"
    API_VPN = "api+vpn"
    BROWSER = "browser"
    BROWSER_VPN = "browser+vpn"
    MANUAL = "manual"

    @property
    def kind(self) -> LayerKind:
        return _SHAPES[self][0]

    @property
    def via_vpn(self) -> bool:
        """Whether the layer goes out through a VPN/proxy route instead of directly."""
        return _SHAPES[self][1]

    @classmethod
    def parse(cls, name: str) -> Layer | None:
        """The layer a config string names, or None for an unknown name."""
        try:
            return cls(name.strip().lower())
        except ValueError:
            return None


_SHAPES: dict[Layer, tuple[LayerKind, bool]] = {
    Layer.API: (LayerKind.API, False),
    Layer.API_VPN: (LayerKind.API, True),
    Layer.BROWSER: (LayerKind.BROWSER, False),
    Layer.BROWSER_VPN: (LayerKind.BROWSER, True),
    Layer.MANUAL: (LayerKind.MANUAL, False),
}


def vpn_routes(registry: Registry, platform: str) -> list[Route]:
    """The registered VPN/proxy routes that serve ``platform``."""
    out = []
    for route in registry.routes.values():
        if route.kind == "direct":
            continue
        serves = getattr(route, "serves", None)  # optional part of the Route contract
        if serves is not None and not serves(platform):
            continue
        out.append(route)
    return out


def route_for(registry: Registry, layer: Layer, platform: str, prefer: str | None = None) -> Route:
    """The route ``layer`` goes out through (call only when :func:`unavailable` is None).

    Among VPN routes the lowest optional ``score`` wins (a route's own health
    estimate; absent: 0), then ``prefer`` (the route the account used last),
    then registration order.
    """
    if layer.via_vpn:
        return min(
            vpn_routes(registry, platform),
            key=lambda r: (float(getattr(r, "score", 0.0)), r.name != prefer),
        )
    return registry.routes["direct"]


def unavailable(registry: Registry, layer: Layer, platform: str) -> str | None:
    """Why ``layer`` cannot run for ``platform`` with the plugins installed here, or None."""
    if layer.kind is LayerKind.MANUAL:
        return None
    if layer.kind is LayerKind.API and platform not in registry.platforms:
        return f"no plugin provides the {platform} API"
    if layer.kind is LayerKind.BROWSER and not registry.browser_uploaders.get(platform):
        if any(p.distribution == BROWSER_PLUGIN and p.error is None for p in registry.plugins):
            return f"no page script for {platform} in {BROWSER_PLUGIN}"
        return f"no browser uploader for {platform} (install {BROWSER_PLUGIN})"
    if layer.via_vpn and not vpn_routes(registry, platform):
        return "no VPN/proxy route configured"
    if not layer.via_vpn and "direct" not in registry.routes:
        return "no direct route"
    return None
