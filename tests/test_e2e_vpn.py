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
from collections.abc import Iterator
from pathlib import Path

import pytest
from pellacia.testing.videos import make_video
from pellacia_vpn import netns
from pellacia_vpn.importer import import_route
from pellacia_vpn.testing import world as w
from pellacia_vpn.tunnel import Credentials

CLI = str(Path(sys.executable).with_name("pellacia-dist"))
FAKE_IP = "10.99.0.20"
MISSING = w.requirements_missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def direct_path(enabled: bool) -> None:
    """The host's way to the fake: through the world's veth, or none at all."""
    if enabled:
        w.sh("ip", "route", "replace", f"{FAKE_IP}/32", "via", w.SRV_IP, "dev", w.HOST_LINK)
        assert f"dev {w.HOST_LINK}" in w.sh("ip", "route", "get", FAKE_IP)
    else:
        w.sh("ip", "route", "replace", "unreachable", f"{FAKE_IP}/32")
        assert w.sh("ip", "route", "get", FAKE_IP, check=False) == ""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[w.World]:
    found = w.World(tmp_path / "world")
    found.build()
    try:
        w.sh("ip", "-n", w.SRV, "addr", "add", f"{FAKE_IP}/32", "dev", "lo")
        yield found
    finally:
        w.sh("ip", "route", "del", f"{FAKE_IP}/32", check=False)
        found.close()


@pytest.fixture
def fake_url(world: w.World) -> Iterator[str]:
    script = Path(__file__).with_name("vpn_world_sandbox.py")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", w.SRV, sys.executable, str(script), FAKE_IP, "tiktok"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening "), line
        yield line.split()[-1]
    finally:
        proc.kill()
        proc.communicate()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)


async def sql(dsn: str, query: str) -> list:
    from pellacia.store.pool import connect_one

    conn = await connect_one(dsn)
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


def test_upload_force_vpn_fallback_publishes_through_an_openvpn_route(
    world: w.World, fake_url: str, pg_dsn: str, tmp_path: Path
) -> None:
    from pellacia_sandbox.control import SandboxControl

    data_dir = tmp_path / "data"
    for name in ("o1", "o2"):
        import_route(
            world.openvpn_client(name, f"pw-{name}"),
            name=name,
            data_dir=data_dir,
            routes_dir=data_dir / "vpn",
            platforms=["tiktok"],
            credentials=Credentials(name, f"pw-{name}"),
        )
    config = tmp_path / "config.toml"
    config.write_text(
        f'data_dir = "{data_dir}"\ntimezone = "UTC"\n'
        '[chains]\ntiktok = ["api", "api+vpn", "manual"]\n'
        f'[plugins.vpn]\ndir = "{data_dir / "vpn"}"\nprefix = "pve"\nsubnet = "10.205.0.0/16"\n'
        f'check_url = "{w.CHECK_URL}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}
    env.update(
        PELLACIA_DATABASE_URL=pg_dsn,
        PELLACIA_CONFIG=str(config),
        PELLACIA_SANDBOX_URL=fake_url,
        NO_COLOR="1",
    )
    direct_path(True)  # signing in is not what this test is about
    login = cli(env, "auth", "login", "tiktok")
    assert login.returncode == 0, login.stderr
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
    # the upload process took its tunnel down on exit
    assert not [n for n in netns.run_sync("ip", "netns", "list").split() if n.startswith("pve")]

    direct_path(True)
    state = asyncio.run(SandboxControl(fake_url).state("tiktok"))
    assert len([p for p in state["posts"] if p.get("title") == "Through the tunnel"]) == 1
