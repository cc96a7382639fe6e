"""Serve the sandbox's fakes on an address of the VPN test world's server namespace.

Run as ``ip netns exec <srv> python vpn_world_sandbox.py ADDRESS PLATFORM...``
by tests/test_e2e_vpn.py. The sandbox binds loopback only; inside the test's
own namespace an address that only the test's tunnels reach plays that role,
so the host is set after the loopback check. Prints ``listening <url>``.
"""

from __future__ import annotations

import asyncio
import sys

from pellacia_sandbox.host import SandboxHost


async def main(address: str, only: list[str]) -> None:
    host = SandboxHost(only=only)
    host.bind = address  # an address of the test world's namespace (see above)
    await host.start()
    print(f"listening {host.base_url}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
