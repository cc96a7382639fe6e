"""The VPN test world of ``pellacia_vpn.testing`` as the e2e tests use it: a real
OpenVPN and a real wireguard-go server in network namespaces, and a sandbox fake
listening on an address of the server's namespace (:data:`FAKE_IP`) that the
host reaches directly or, with :func:`direct_path` off, only through tunnels.

``conftest.py`` makes the ``world`` and ``fake_url`` fixtures available.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pellacia_vpn.testing import world as w

FAKE_IP = "10.99.0.20"
#: why the world cannot be built here (None: it can)
MISSING = w.requirements_missing()


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
    """The TikTok fake (API and web pages) on :data:`FAKE_IP`, in its own process."""
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
