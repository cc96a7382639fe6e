"""Bring one tunnel route up: namespace, tunnel process, SOCKS5 egress.

The tunnel process (openvpn, wireguard-go) runs in the host's namespace, so
its UDP/TCP socket uses the host's normal routing to the VPN server; only its
tun device is moved into the route's namespace, where it carries the only
default route. The namespace holds ``lo``, the tun and the veth to the host:
when the tunnel dies its tun and the default route go with it and nothing
can leave (the kill switch holds by construction, no firewall rule needed).
microsocks listens on the namespace end of the veth and resolves names inside
the namespace (``/etc/netns/<ns>/resolv.conf``, from the tunnel's DNS).

Every process is a direct child (never ``--daemon``) that dies with us
(``PR_SET_PDEATHSIG``) and whose PID is recorded for a later cleanup.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pellacia_vpn import netns
from pellacia_vpn.netns import Names, TunnelError
from pellacia_vpn.wgconf import WgConfig, parse_wg_quick

UP_TIMEOUT = 20.0
UP_SCRIPT = r"""#!/bin/sh
# openvpn --up hook: move the tun into the route's namespace and make it the
# only way out. Arguments: dev tun_mtu link_mtu ifconfig_local ifconfig_remote|netmask.
set -e
NS="$VPN_NETNS"; dev="$1"
ip -n "$NS" link show "$dev" >/dev/null 2>&1 || ip link set dev "$dev" netns "$NS"
if [ -n "$ifconfig_netmask" ]; then
  ip -n "$NS" addr replace "$ifconfig_local/$ifconfig_netmask" dev "$dev"
else
  ip -n "$NS" addr replace "$ifconfig_local" peer "$ifconfig_remote" dev "$dev"
fi
ip -n "$NS" link set dev "$dev" mtu "$tun_mtu" up
ip -n "$NS" route replace default dev "$dev"
mkdir -p "/etc/netns/$NS"
: > "/etc/netns/$NS/resolv.conf"
for option in $(env | sed -n 's/^foreign_option_[0-9]*=dhcp-option DNS \(.*\)$/\1/p'); do
  echo "nameserver $option" >> "/etc/netns/$NS/resolv.conf"
done
"""
OPENVPN_OVERRIDES = (
    "--dev-type", "tun",
    "--ifconfig-noexec", "--route-noexec",
    "--pull-filter", "ignore", "redirect-gateway",
    "--pull-filter", "ignore", "route-ipv6",
    "--pull-filter", "ignore", "ifconfig-ipv6",
    "--pull-filter", "ignore", "block-outside-dns",
    "--script-security", "2",
    "--disable-dco",
    "--connect-retry", "1", "5",
    "--verb", "3",
)  # fmt: skip


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the process that started us dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    """A supervised child process whose output is kept (last lines) for errors."""

    label: str
    proc: asyncio.subprocess.Process
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=30))
    reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls, label: str, names: Names, *argv: str, env: dict[str, str] | None = None
    ) -> Child:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            preexec_fn=_die_with_parent,
        )
        netns.record_pid(names, proc.pid)
        child = cls(label, proc)
        child.reader = asyncio.create_task(child._read())
        return child

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.lines.append(line.decode(errors="replace").rstrip())

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    async def drained(self) -> None:
        """Wait (briefly) until a dead child's last output has been read."""
        if self.reader is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self.reader), 1.0)

    def seen(self, marker: str) -> bool:
        return any(marker in line for line in self.lines)

    def tail(self, count: int = 3) -> str:
        return " | ".join(list(self.lines)[-count:]) or "no output"

    async def stop(self) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 2.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        if self.reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader


@dataclass
class Credentials:
    """A provider's user name and password (``repr`` hides the password)."""

    username: str
    password: str = field(repr=False)


@dataclass
class Tunnel:
    """One running tunnel route; :meth:`stop` removes every trace of it."""

    names: Names
    kind: Literal["openvpn", "wireguard"]
    children: list[Child] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def alive(self) -> bool:
        return all(child.alive for child in self.children)

    def why_dead(self) -> str:
        dead = [c for c in self.children if not c.alive]
        return "; ".join(f"{c.label} exited ({c.tail()})" for c in dead) or "running"

    async def stop(self) -> None:
        for child in reversed(self.children):
            await child.stop()
        await asyncio.to_thread(netns.destroy, self.names)


async def bring_up(
    names: Names,
    kind: Literal["openvpn", "wireguard"],
    config_file: Path,
    credentials: Credentials | None = None,
    extra_args: tuple[str, ...] = (),
    limit: float = UP_TIMEOUT,
) -> Tunnel:
    """Namespace + tunnel + SOCKS5 egress, ready for traffic; ``TunnelError`` if not."""
    await asyncio.to_thread(netns.destroy, names)  # leftovers under the same names
    names.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (names.run_dir / "index").write_text(str(names.index))
    tunnel = Tunnel(names, kind)
    text = await asyncio.to_thread(config_file.read_text)
    try:
        await netns.create(names)
        if kind == "openvpn":
            await _openvpn(tunnel, config_file, credentials, extra_args, limit)
        else:
            await _wireguard(tunnel, parse_wg_quick(text), limit)
        await _socks(tunnel, limit)
    except BaseException:
        await tunnel.stop()
        raise
    return tunnel


async def _openvpn(
    tunnel: Tunnel,
    config_file: Path,
    credentials: Credentials | None,
    extra_args: tuple[str, ...],
    limit: float,
) -> None:
    names = tunnel.names
    script = names.run_dir / "up.sh"
    script.write_text(UP_SCRIPT)
    script.chmod(0o700)
    # --cd: relative paths in the provider's file are relative to the file
    config = await asyncio.to_thread(config_file.resolve)
    argv = ["openvpn", "--cd", str(config.parent), "--config", str(config), "--dev", names.tun]
    argv += OPENVPN_OVERRIDES
    argv += ["--setenv", "VPN_NETNS", names.netns, "--up", str(script), *extra_args]
    if credentials is not None:
        auth = names.run_dir / "auth"
        fd = os.open(auth, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(f"{credentials.username}\n{credentials.password}\n")
        argv += ["--auth-user-pass", str(auth)]
    child = await Child.start("openvpn", names, *argv)
    tunnel.children.append(child)
    await _until(
        lambda: child.seen("Initialization Sequence Completed"),
        child,
        limit,
        f"OpenVPN route {names.route}",
        fatal=("AUTH_FAILED", "Options error", "Exiting due to fatal error"),
    )


async def _wireguard(tunnel: Tunnel, config: WgConfig, limit: float) -> None:
    names = tunnel.names
    socket_path = netns.WG_SOCKETS / f"{names.wg}.sock"
    child = await Child.start(
        "wireguard-go", names, "wireguard-go", "-f", names.wg, env={"WG_PROCESS_FOREGROUND": "1"}
    )
    tunnel.children.append(child)
    await _until(socket_path.exists, child, limit, f"WireGuard route {names.route}")
    await netns.run("wg", "setconf", names.wg, "/dev/stdin", stdin=config.wg_text.encode())
    ns = names.netns
    await netns.run("ip", "link", "set", "dev", names.wg, "netns", ns)
    for address in config.addresses:
        await netns.run("ip", "-n", ns, "addr", "add", address, "dev", names.wg)
    await netns.run("ip", "-n", ns, "link", "set", names.wg, "mtu", str(config.mtu), "up")
    await netns.run("ip", "-n", ns, "route", "replace", "default", "dev", names.wg)
    if any(":" in a for a in config.addresses):
        await netns.run("ip", "-n", ns, "-6", "route", "replace", "default", "dev", names.wg)
    # always written: `ip netns exec` uses the host's resolver when the file is absent
    etc = netns.NETNS_ETC / ns
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "resolv.conf").write_text("".join(f"nameserver {d}\n" for d in config.dns))


async def _socks(tunnel: Tunnel, limit: float) -> None:
    names = tunnel.names
    child = await Child.start(
        "microsocks",
        names,
        "ip", "netns", "exec", names.netns,
        "microsocks", "-i", names.ns_ip, "-p", str(netns.SOCKS_PORT),
    )  # fmt: skip
    tunnel.children.append(child)

    async def listening() -> bool:
        try:
            _, writer = await asyncio.open_connection(names.ns_ip, netns.SOCKS_PORT)
        except OSError:
            return False
        writer.close()
        return True

    deadline = time.monotonic() + limit
    while not await listening():
        if not child.alive or time.monotonic() > deadline:
            await child.drained()
            raise TunnelError(
                f"route {names.route}: the SOCKS5 egress did not start ({child.tail()})"
            )
        await asyncio.sleep(0.01)


async def _until(
    ready: object,
    child: Child,
    limit: float,
    what: str,
    fatal: tuple[str, ...] = (),
) -> None:
    """Poll ``ready()`` until true; ``TunnelError`` with the child's last words if not."""
    assert callable(ready)
    deadline = time.monotonic() + limit
    while not ready():
        problem = next((m for m in fatal if child.seen(m)), None)
        if problem or not child.alive:
            if not child.alive:
                await child.drained()
            raise TunnelError(f"{what} failed: {child.tail()}")
        if time.monotonic() > deadline:
            raise TunnelError(f"{what} was not up within {limit:g} s: {child.tail()}")
        await asyncio.sleep(0.01)
