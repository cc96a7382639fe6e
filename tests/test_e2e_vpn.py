"""Issue-level end to end: ``upload --test --force-vpn-fallback --wait`` publishes to
the TikTok fake through an OpenVPN route of the VPN test world.

The fake listens on an address of the world's server namespace that, while the
upload runs, the host can reach only through the tunnels (its direct route is
``unreachable``: a direct try fails locally, nothing leaves the machine).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pellacia.testing.videos import make_large, make_video
from pellacia_vpn import netns
from pellacia_vpn.importer import import_route
from pellacia_vpn.testing import world as w
from pellacia_vpn.tunnel import Credentials
from vpn_world import MISSING, direct_path

CLI = str(Path(sys.executable).with_name("pellacia-dist"))
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)


async def sql(dsn: str, query: str) -> list:
    from pellacia.store.pool import connect_one

    conn = await connect_one(dsn)
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


def setup(world: w.World, routes: tuple[str, ...], fake_url: str, dsn: str, tmp: Path) -> dict:
    """Routes imported, a config, the TikTok account signed in: the CLI's environment."""
    data_dir = tmp / "data"
    for name in routes:
        openvpn = name.startswith("o")
        import_route(
            world.openvpn_client(name, f"pw-{name}") if openvpn else world.wireguard_client(name),
            name=name,
            data_dir=data_dir,
            routes_dir=data_dir / "vpn",
            platforms=["tiktok"],
            credentials=Credentials(name, f"pw-{name}") if openvpn else None,
        )
    config = tmp / "config.toml"
    config.write_text(
        f'data_dir = "{data_dir}"\ntimezone = "UTC"\n'
        '[chains]\ntiktok = ["api", "api+vpn", "manual"]\n'
        "[retry]\nbase_delay = 0.2\nmax_delay = 1\n[spacing]\nmin_interval = 0\njitter = 0\n"
        f'[plugins.vpn]\ndir = "{data_dir / "vpn"}"\nprefix = "pve"\nsubnet = "10.205.0.0/16"\n'
        f'check_url = "{w.CHECK_URL}"\nprobe_interval = 0.25\nprobe_timeout = 2.0\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}
    env.update(
        PELLACIA_DATABASE_URL=dsn,
        PELLACIA_CONFIG=str(config),
        PELLACIA_SANDBOX_URL=fake_url,
        NO_COLOR="1",
    )
    direct_path(True)  # signing in is not what this test is about
    login = cli(env, "auth", "login", "tiktok")
    assert login.returncode == 0, login.stderr
    return env


def test_upload_force_vpn_fallback_publishes_through_an_openvpn_route(
    world: w.World, fake_url: str, pg_dsn: str, tmp_path: Path
) -> None:
    from pellacia_sandbox.control import SandboxControl

    env = setup(world, ("o1", "o2"), fake_url, pg_dsn, tmp_path)
    clip = make_video(tmp_path / "sample.mp4", seconds=1.0, width=720, height=1280)

    direct_path(False)
    upload = cli(
        env, "upload", "--platform", "tiktok", "--file", str(clip), "--title", "Through the tunnel",
        "--test", "--force-vpn-fallback", "--wait", "--json",
    )  # fmt: skip
    assert upload.returncode == 0, upload.stderr
    [delivery] = json.loads(upload.stdout)["deliveries"]
    assert delivery["state"] == "published"
    rows = asyncio.run(sql(pg_dsn, "SELECT layer, route, outcome FROM delivery_attempts"))
    assert [(r["layer"], r["route"], r["outcome"]) for r in rows] == [
        ("api+vpn", "vpn:o1", "published")
    ]
    # the upload process took its tunnel down on exit, and left nothing behind
    assert not [n for n in netns.run_sync("ip", "netns", "list").split() if n.startswith("pve")]
    assert not list(netns.RUN_DIR.glob("pve-*"))

    direct_path(True)
    state = asyncio.run(SandboxControl(fake_url).state("tiktok"))
    assert len([p for p in state["posts"] if p.get("title") == "Through the tunnel"]) == 1


def test_route_dying_mid_upload_finishes_through_another_route_with_one_post(
    world: w.World, fake_url: str, pg_dsn: str, tmp_path: Path
) -> None:
    from pellacia_sandbox.control import SandboxControl

    env = setup(world, ("o1", "w1"), fake_url, pg_dsn, tmp_path)
    size = 32 * 1024 * 1024  # 4 chunks of 10 MB (the last one larger)
    seed = make_video(tmp_path / "seed.mp4", seconds=1.0, width=720, height=1280)
    clip = make_large(seed, tmp_path / "big.mp4", size)
    control = SandboxControl(fake_url)
    asyncio.run(control.add_fault("tiktok", "delay", method="PUT", times=None, seconds=0.7))
    direct_path(False)
    upload = subprocess.Popen(
        [CLI, "upload", "--platform", "tiktok", "--file", str(clip), "--title", "Survivor",
         "--test", "--force-vpn-fallback", "--wait", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        query = "SELECT bytes_sent FROM deliveries"
        while not [r for r in asyncio.run(sql(pg_dsn, query)) if (r["bytes_sent"] or 0) > 0]:
            assert time.monotonic() < deadline and upload.poll() is None, "no chunk went through"
            time.sleep(0.1)
        world.stop("openvpn")  # the server of route o1, mid-file
        out, err = upload.communicate(timeout=90)
    finally:
        if upload.poll() is None:
            upload.kill()
            upload.communicate()
    assert upload.returncode == 0, err
    [delivery] = json.loads(out)["deliveries"]
    assert delivery["state"] == "published"
    rows = asyncio.run(sql(pg_dsn, "SELECT route, outcome FROM delivery_attempts ORDER BY id"))
    routes = [(r["route"], r["outcome"]) for r in rows]
    assert routes[0] == ("vpn:o1", "error") and routes[-1] == ("vpn:w1", "published"), routes
    assert {route for route, _ in routes} == {"vpn:o1", "vpn:w1"}
    alerts = asyncio.run(sql(pg_dsn, "SELECT payload FROM events WHERE kind = 'alert'"))
    titles = [r["payload"]["title"] for r in alerts]
    assert "VPN route vpn:o1 is down" in titles  # the route event became an alert

    direct_path(True)
    state = asyncio.run(SandboxControl(fake_url).state("tiktok"))
    assert len([p for p in state["posts"] if p.get("title") == "Survivor"]) == 1  # one post
    received = sum(u["bytes_received"] for u in state["uploads"])
    assert size <= received < 2 * size  # resumed, not started over from nothing twice

    # o1 works again and comes first by name, but the account keeps its egress: w1
    asyncio.run(control.clear_faults())
    world.start_openvpn_server()
    direct_path(False)
    again = cli(
        env, "upload", "--platform", "tiktok", "--file", str(seed), "--title", "Sticky",
        "--test", "--force-vpn-fallback", "--wait", "--json", "--allow-duplicate",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    rows = asyncio.run(sql(pg_dsn, "SELECT route FROM delivery_attempts ORDER BY id DESC LIMIT 1"))
    assert rows[0]["route"] == "vpn:w1"
