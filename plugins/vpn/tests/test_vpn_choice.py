"""Which route the '+vpn' layers take: the healthiest that serves the platform."""

from __future__ import annotations

import time
from pathlib import Path

import pluggy
from pellacia.delivery.layers import Layer, route_for
from pellacia.plugins import Registry
from pellacia_vpn.routes import TunnelRoute, parse_routes


def registry_of(tmp_path: Path) -> tuple[Registry, dict[str, TunnelRoute]]:
    tables = {
        name: {"kind": "openvpn", "config_file": str(tmp_path / f"{name}.ovpn"), "platforms": p}
        for name, p in (("a", ["tiktok"]), ("b", ["tiktok"]), ("c", ["youtube"]))
    }
    routes = parse_routes({"dir": str(tmp_path / "none"), "routes": tables})
    registry = Registry(manager=pluggy.PluginManager("pellacia_dist"))
    registry.routes = {r.name: r for r in routes}
    return registry, {r.route: r for r in routes if isinstance(r, TunnelRoute)}


def probe(route: TunnelRoute, *results: bool, latency: float = 0.05) -> None:
    health = route.supervisor.health_of(route.route)
    for ok in results:
        health.record(time.monotonic(), ok, latency=latency, egress_ip=None, problem="x")


def test_the_layer_takes_the_healthiest_route_serving_the_platform(tmp_path: Path) -> None:
    registry, routes = registry_of(tmp_path)
    assert route_for(registry, Layer.API_VPN, "tiktok").name == "vpn:a"  # nothing known yet
    probe(routes["a"], True, False, False)  # down
    probe(routes["b"], True)
    probe(routes["c"], True)  # healthy, but not for tiktok
    assert routes["a"].health == "down" and routes["b"].health == "up"
    assert route_for(registry, Layer.API_VPN, "tiktok").name == "vpn:b"
    assert route_for(registry, Layer.BROWSER_VPN, "youtube").name == "vpn:c"
    probe(routes["b"], False, False)  # every tiktok route down: registration order again
    assert route_for(registry, Layer.API_VPN, "tiktok").name == "vpn:a"
    probe(routes["a"], True)
    assert route_for(registry, Layer.API_VPN, "tiktok").name == "vpn:a"


def test_an_account_keeps_its_last_route_unless_it_is_worse(tmp_path: Path) -> None:
    registry, routes = registry_of(tmp_path)
    assert route_for(registry, Layer.API_VPN, "tiktok", prefer="vpn:b").name == "vpn:b"
    probe(routes["a"], True, latency=0.001)  # faster and known good: the account stays
    assert route_for(registry, Layer.API_VPN, "tiktok", prefer="vpn:b").name == "vpn:b"
    probe(routes["b"], False)  # degraded: the account moves
    assert route_for(registry, Layer.API_VPN, "tiktok", prefer="vpn:b").name == "vpn:a"
    probe(routes["b"], True)
    assert route_for(registry, Layer.API_VPN, "tiktok", prefer="vpn:b").name == "vpn:b"
    assert route_for(registry, Layer.API_VPN, "tiktok", prefer="vpn:gone").name == "vpn:a"
