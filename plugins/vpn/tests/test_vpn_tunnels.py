"""Real OpenVPN and WireGuard tunnels, each in its own namespace, against a test world.

The world (servers, HTTP endpoint) lives in namespaces these tests create;
every address traffic is sent to is checked with ``ip route get`` first.
Needs root, /dev/net/tun and the tunnel programs (scripts/bootstrap installs
them); skipped elsewhere with the reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pellacia.errors import ConfigError
from pellacia.http import client_session
from pellacia_vpn import netns
from pellacia_vpn.importer import import_route
from pellacia_vpn.routes import TunnelRoute, parse_routes
from pellacia_vpn.testing import world as w
from pellacia_vpn.tunnel import Credentials

MISSING = w.requirements_missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
PREFIX = "pvr"
OVPN = ("o1", "o2", "o3")
WG = ("w1", "w2", "w3")


def settings_for(directory: Path, prefix: str = PREFIX, subnet: str = "10.201.0.0/16") -> dict:
    return {
        "dir": str(directory),
        "prefix": prefix,
        "subnet": subnet,
        "check_url": w.CHECK_URL,
        "probe_interval": 0.25,
        "probe_timeout": 2.0,  # generous: a loaded CI machine must not fail healthy routes
        "fail_threshold": 2,
        "cooldown": 1.0,
        "rebuild_after": 1.5,
    }


def install(world: w.World, data_dir: Path, names: tuple[str, ...]) -> None:
    """Import provider files the way an operator would (credentials sealed)."""
    for name in names:
        if name.startswith("o"):
            source = world.openvpn_client(name, f"pw-{name}")
            credentials: Credentials | None = Credentials(name, f"pw-{name}")
        else:
            source, credentials = world.wireguard_client(name), None
        import_route(
            source,
            name=name,
            data_dir=data_dir,
            routes_dir=data_dir / "vpn",
            platforms=["tiktok"],
            credentials=credentials,
        )


def tunnel_address(route: TunnelRoute) -> str:
    names = route.supervisor.names(route)
    device = names.tun if route.tunnel == "openvpn" else names.wg
    out = netns.run_sync("ip", "-n", names.netns, "-4", "-o", "addr", "show", "dev", device)
    return out.split()[3].split("/")[0]


def assert_local(address: str, device_prefix: str) -> None:
    """Never send test traffic anywhere but into our own namespaces."""
    assert f"dev {device_prefix}" in netns.run_sync("ip", "route", "get", address)


async def fetch_ip(proxy: str | None, url: str = w.CHECK_URL) -> str:
    async with client_session(proxy=proxy, total_timeout=5) as http, http.get(url) as resp:
        return str((await resp.json())["client_ip"])


@pytest.fixture(scope="session")
async def routes(
    world: w.World, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[list[TunnelRoute]]:
    data_dir = tmp_path_factory.mktemp("data")
    install(world, data_dir, OVPN + WG)
    found = [r for r in parse_routes(settings_for(data_dir / "vpn")) if isinstance(r, TunnelRoute)]
    assert [r.route for r in found] == sorted(OVPN + WG)
    started = time.monotonic()
    await asyncio.gather(*(r.supervisor.ensure_up(r) for r in found))
    print(f"6 routes up in {time.monotonic() - started:.2f} s")
    try:
        yield found
    finally:
        await found[0].supervisor.close()
        assert not [
            n for n in netns.run_sync("ip", "netns", "list").split() if n.startswith(PREFIX)
        ]


def by_name(routes: list[TunnelRoute], name: str) -> TunnelRoute:
    return next(r for r in routes if r.route == name)


async def test_each_route_egresses_from_its_own_tunnel_address(routes, world) -> None:
    before = len(world.seen_clients())
    seen = {}
    for route in routes:
        async with route.open() as handle:
            assert handle.name == f"vpn:{route.route}"
            assert handle.proxy == route.proxy_url
            names = route.supervisor.names(route)
            assert_local(names.ns_ip, names.veth_host)
            seen[route.route] = await fetch_ip(handle.proxy)
        assert seen[route.route] == tunnel_address(route)
        subnet = "10.8.0." if route.tunnel == "openvpn" else "10.9.0."
        assert seen[route.route].startswith(subnet)
    assert len(set(seen.values())) == 6  # six different egresses
    arrived = world.seen_clients()[before:]  # ours, and the health probes' (same addresses)
    assert set(seen.values()) <= set(arrived) and set(arrived) <= set(seen.values())
    assert_local(w.WEB_IP, w.HOST_LINK)
    assert await fetch_ip(None) == w.HOST_IP  # the direct path is not a tunnel's


async def test_names_are_resolved_inside_the_tunnel(routes, world) -> None:
    """Remote DNS: the host never resolves the name; the route's namespace asks the
    resolver the VPN pushed (OpenVPN) or the file names (WireGuard), through the tunnel."""
    url = f"http://{w.WEB_NAME}:{w.HTTP_PORT}/ip"
    for name in ("o2", "w2"):
        route = by_name(routes, name)
        before = len(world.dns_queries())
        async with route.open() as handle:
            assert await fetch_ip(handle.proxy, url) == tunnel_address(route)
        asked = world.dns_queries()[before:]
        assert (tunnel_address(route), w.WEB_NAME) in asked
        assert {client for client, _ in asked} <= {tunnel_address(r) for r in routes}


async def test_namespace_has_no_way_out_but_the_tunnel(routes) -> None:
    route = by_name(routes, "o1")
    names = route.supervisor.names(route)
    links = netns.run_sync("ip", "-n", names.netns, "-br", "link").split("\n")
    assert sorted(line.split()[0].split("@")[0] for line in links if line) == sorted(
        ["lo", names.veth_ns, names.tun]
    )
    assert netns.run_sync("ip", "-n", names.netns, "route", "show", "default").split()[:3] == [
        "default",
        "dev",
        names.tun,
    ]


async def test_killed_tunnel_client_lets_no_packet_out(
    routes, world, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # a route of its own, probed only when asked: the checks below race no teardown
    data_dir = tmp_path_factory.mktemp("kill")
    install(world, data_dir, ("o9",))
    settings = {**settings_for(data_dir / "vpn", "pvk", "10.206.0.0/16"), "probe_interval": 600}
    (route,) = parse_routes(settings)
    assert isinstance(route, TunnelRoute)
    supervisor = route.supervisor
    names = supervisor.names(route)
    try:
        tunnel = await supervisor.ensure_up(route)
        own = tunnel_address(route)
        assert await fetch_ip(names.proxy_url) == own
        deadline = time.monotonic() + 10
        while route.health != "up":  # the probe loop's first (and, here, only) probe
            assert time.monotonic() < deadline, supervisor.health_of("o9")
            await asyncio.sleep(0.02)
        seen_before = len(world.seen_clients())
        others = {tunnel_address(r) for r in routes}
        openvpn = next(c for c in tunnel.children if c.label == "openvpn")
        openvpn.proc.kill()
        await openvpn.proc.wait()
        # the tun went with the process, and the only default route with it
        assert names.tun not in netns.run_sync("ip", "-n", names.netns, "-br", "link")
        assert netns.run_sync("ip", "-n", names.netns, "route", "show", "default") == ""
        with pytest.raises(Exception) as err:  # the SOCKS egress cannot reach anything
            await fetch_ip(names.proxy_url)
        assert "client_ip" not in str(err.value)
        probe = f"import socket; socket.create_connection(('{w.WEB_IP}', {w.HTTP_PORT}), 2)"
        inside = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", names.netns, "python3", "-c", probe,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        _, stderr = await inside.communicate()
        assert b"Network is unreachable" in stderr
        # nothing reached the endpoint from this route, by the tunnel or by any other
        # path: what arrived meanwhile came from the other routes' tunnels only
        arrived = world.seen_clients()[seen_before:]
        assert own not in arrived and own not in others
        assert all(a.startswith(("10.8.0.", "10.9.0.")) for a in arrived), arrived
        # the probes find the tunnel dead: the route is down and taken down
        for _ in range(2):
            result = await supervisor.check("o9", names.proxy_url)
            assert not result.ok and "tunnel down" in (result.problem or "")
        assert route.health == "down" and "o9" not in supervisor.tunnels
        assert names.netns not in netns.run_sync("ip", "netns", "list")
        # the next use after the cooldown rebuilds it, working through its tunnel again
        supervisor.health_of("o9").down_since = time.monotonic() - 10
        async with route.open() as handle:
            assert await fetch_ip(handle.proxy) == tunnel_address(route)
    finally:
        await supervisor.close()


async def test_server_down_is_detected_and_healthy_routes_rank_first(routes, world) -> None:
    supervisor = routes[0].supervisor
    for route in routes:  # the probe loop has seen every route up by now
        await supervisor.check(route.route, route.proxy_url)
    assert {r.route: r.health for r in routes} == dict.fromkeys(OVPN + WG, "up")
    killed = time.monotonic()
    world.stop("wireguard")
    options = supervisor.options
    limit = options.policy.fail_threshold * (options.probe_interval + options.probe_timeout) + 1.0
    while any(by_name(routes, n).health != "down" for n in WG):
        assert time.monotonic() - killed < limit, {r.route: r.health for r in routes}
        await asyncio.sleep(0.05)
    detected = time.monotonic() - killed
    print(f"dead WireGuard server detected in {detected:.2f} s")
    ranked = sorted(routes, key=lambda r: r.score)
    assert {r.route for r in ranked[:3]} == set(OVPN)
    assert all(r.health == "down" for r in ranked[3:])
    titles = [a.title for a in supervisor.alerts]
    assert "VPN route vpn:w1 is down" in titles
    assert "every VPN route is down" not in titles
    with pytest.raises(Exception, match="cooling off"):
        async with by_name(routes, "w1").open():
            pass
    # the server comes back; a route still down past rebuild_after is rebuilt on use
    world.start_wireguard_server()
    route = by_name(routes, "w2")
    supervisor.health_of("w2").down_since = time.monotonic() - 10
    async with route.open() as handle:
        assert await fetch_ip(handle.proxy) == tunnel_address(route)


def test_stale_objects_of_a_crashed_run_are_removed() -> None:
    ghost = netns.Names("ghost", "pvs", 77, "10.204.0.0/16")
    held = netns.Names("held", "pvs", 78, "10.204.0.0/16")
    for names in (ghost, held):
        netns.destroy(names)
        names.run_dir.mkdir(parents=True, exist_ok=True)
        (names.run_dir / "index").write_text(str(names.index))
        asyncio.run(netns.create(names))
    lock = netns.Lock(held)
    assert lock.acquire()
    try:
        removed = netns.clean_stale("pvs")
        assert removed == ["pvs-ghost"]
        namespaces = netns.run_sync("ip", "netns", "list")
        assert "pvs-ghost" not in namespaces and "pvs-held" in namespaces
        assert netns.clean_stale("pvs") == []  # idempotent
    finally:
        lock.release()
    assert netns.clean_stale("pvs") == ["pvs-held"]
    assert "pvs" not in netns.run_sync("ip", "-br", "link")


def test_import_copies_privately_and_seals_the_password(world, tmp_path: Path) -> None:
    source = world.openvpn_client("imp", "s3cret-imp")
    done = import_route(
        source,
        name="nl1",
        data_dir=tmp_path,
        routes_dir=tmp_path / "vpn",
        platforms=["tiktok"],
        credentials=Credentials("imp", "s3cret-imp"),
    )
    assert done.path.read_text() == source.read_text()  # unedited
    assert os.stat(done.path).st_mode & 0o777 == 0o600
    for path in (tmp_path / "vpn").iterdir():
        assert b"s3cret-imp" not in path.read_bytes()
    meta = json.loads((tmp_path / "vpn" / "nl1.json").read_text())
    assert meta["platforms"] == ["tiktok"] and meta["username"] == "imp"
    (route,) = parse_routes({"dir": str(tmp_path / "vpn")})
    assert isinstance(route, TunnelRoute)
    assert route.credentials() == Credentials("imp", "s3cret-imp")


def test_import_reports_what_openvpn_26_refuses_with_the_fix(tmp_path: Path) -> None:
    vpngate = tmp_path / "vpngate.ovpn"
    vpngate.write_text("client\ndev tun\nremote 192.0.2.7 1194\ncipher AES-128-CBC\nauth SHA1\n")
    done = import_route(
        vpngate, name="jp1", data_dir=tmp_path, routes_dir=tmp_path / "vpn",
        platforms=[], credentials=None,
    )  # fmt: skip
    assert "AES-128-CBC" in done.notes[0] and "refuses" in done.notes[0]
    meta = json.loads((tmp_path / "vpn" / "jp1.json").read_text())
    assert "AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305:AES-128-CBC" in meta["openvpn_args"]
    hooks = tmp_path / "hooks.ovpn"
    hooks.write_text("client\nremote 192.0.2.7\nauth-user-pass\nup /tmp/x.sh\n")
    with pytest.raises(ConfigError) as err:
        import_route(
            hooks, name="bad", data_dir=tmp_path, routes_dir=tmp_path / "vpn",
            platforms=[], credentials=None,
        )  # fmt: skip
    assert "runs scripts (up)" in str(err.value) and "--username" in str(err.value)
