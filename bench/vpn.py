"""VPN routes: bring-up of 6 tunnels, failure detection, upload throughput tunnel vs direct.

Builds the test world of pellacia_vpn.testing (a real OpenVPN server, a real
wireguard-go server and an HTTP endpoint, in network namespaces made here;
no packet leaves the machine), imports 3 OpenVPN + 3 WireGuard provider
files, then measures in one run:

1. bring-up: all 6 routes in parallel, from nothing to usable proxies
   (``--rounds`` times, each followed by a full teardown, also timed);
2. failure detection: the OpenVPN server is killed; time until the probes
   mark its 3 routes ``down`` (probe every ``--interval`` s, ``--timeout`` s);
3. upload throughput: ``--mb`` MiB POSTed to the endpoint directly, through
   an OpenVPN route and through a WireGuard route (client and servers share
   this machine's cores, so tunnel figures are a lower bound).

    sudo .venv/bin/python bench/vpn.py [--rounds 3] [--mb 64]
"""

from __future__ import annotations

import _path  # noqa: F401  first: keeps bench/queue.py from shadowing stdlib queue

# isort: split

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from pellacia.contract import Alert
from pellacia.http import client_session
from pellacia_vpn.importer import import_route
from pellacia_vpn.routes import TunnelRoute, parse_routes
from pellacia_vpn.testing import world as w
from pellacia_vpn.tunnel import Credentials

SINK = f"http://{w.WEB_IP}:{w.HTTP_PORT}/sink"


def install(world: w.World, data_dir: Path) -> list[TunnelRoute]:
    for name in ("o1", "o2", "o3", "w1", "w2", "w3"):
        credentials = None
        if name.startswith("o"):
            source = world.openvpn_client(name, f"pw-{name}")
            credentials = Credentials(name, f"pw-{name}")
        else:
            source = world.wireguard_client(name)
        import_route(
            source, name=name, data_dir=data_dir, routes_dir=data_dir / "vpn",
            platforms=[], credentials=credentials,
        )  # fmt: skip
    return [r for r in parse_routes(settings(data_dir)) if isinstance(r, TunnelRoute)]


def settings(data_dir: Path, interval: float = 0.5, timeout: float = 1.5) -> dict[str, object]:
    return {
        "dir": str(data_dir / "vpn"),
        "prefix": "pvb",
        "check_url": w.CHECK_URL,
        "probe_interval": interval,
        "probe_timeout": timeout,
    }


async def bring_up(routes: list[TunnelRoute]) -> tuple[float, float]:
    supervisor = routes[0].supervisor
    started = time.perf_counter()
    await asyncio.gather(*(supervisor.ensure_up(r) for r in routes))
    up = time.perf_counter() - started
    started = time.perf_counter()
    await supervisor.close()
    return up, time.perf_counter() - started


async def detection(world: w.World, routes: list[TunnelRoute]) -> float:
    supervisor = routes[0].supervisor
    await asyncio.gather(*(supervisor.ensure_up(r) for r in routes))
    for route in routes:
        await supervisor.check(route.route, route.proxy_url)
    watched = {f"VPN route {r.name} is down" for r in routes if r.tunnel == "openvpn"}
    all_down = asyncio.Event()

    def on_alert(alert: Alert) -> None:  # the route events, as core's dispatcher gets them
        watched.discard(alert.title)
        if not watched:
            all_down.set()

    supervisor.on_alert = on_alert
    killed = time.perf_counter()
    await asyncio.to_thread(world.stop, "openvpn")
    await all_down.wait()
    found = time.perf_counter() - killed
    await asyncio.to_thread(world.start_openvpn_server)
    await supervisor.close()
    return found


async def _body(mib: int) -> AsyncIterator[bytes]:
    chunk = bytes(1 << 20)
    for _ in range(mib):
        yield chunk


async def upload(proxy: str | None, mib: int) -> float:
    async with client_session(proxy=proxy) as http:
        started = time.perf_counter()
        async with http.post(SINK, data=_body(mib)) as resp:
            assert (await resp.json())["bytes"] == mib << 20
        return mib / (time.perf_counter() - started)


async def throughput(routes: list[TunnelRoute], mib: int) -> dict[str, float]:
    supervisor = routes[0].supervisor
    pick = [next(r for r in routes if r.tunnel == kind) for kind in ("openvpn", "wireguard")]
    await asyncio.gather(*(supervisor.ensure_up(r) for r in pick))
    results = {"direct": await upload(None, mib)}
    for route in pick:
        results[f"through {route.tunnel}"] = await upload(route.proxy_url, mib)
    await supervisor.close()
    return results


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        world = w.World(Path(tmp) / "world")
        world.build()
        try:
            data_dir = Path(tmp) / "data"
            routes = install(world, data_dir)
            ups, downs = [], []
            for _ in range(args.rounds):
                up, down = await bring_up(routes)
                ups.append(up)
                downs.append(down)
            print(f"6 routes up in parallel:  median {statistics.median(ups):.2f} s "
                  f"(min {min(ups):.2f}, max {max(ups):.2f}, {args.rounds} rounds)")  # fmt: skip
            print(f"6 routes torn down:       median {statistics.median(downs):.2f} s")
            routes = [r for r in parse_routes(settings(data_dir, args.interval, args.timeout))
                      if isinstance(r, TunnelRoute)]  # fmt: skip
            found = await detection(world, routes)
            print(f"dead OpenVPN server detected in {found:.2f} s "
                  f"(probe every {args.interval:g} s, timeout {args.timeout:g} s, 2 failures)")  # fmt: skip
            routes = [r for r in parse_routes(settings(data_dir)) if isinstance(r, TunnelRoute)]
            for label, mib_s in (await throughput(routes, args.mb)).items():
                print(f"upload {args.mb} MiB {label:<18} {mib_s:7.1f} MiB/s")
        finally:
            world.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mb", type=int, default=64)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--timeout", type=float, default=1.5)
    args = parser.parse_args()
    from pellacia.log import configure_logging

    configure_logging("error", False)  # the route events would drown the figures
    missing = w.requirements_missing()
    if missing:
        raise SystemExit(f"cannot run: {missing}")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
