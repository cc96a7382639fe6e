"""Network namespaces, veth pairs and processes, by our own name prefix.

Every object a tunnel route creates is named from one prefix (``pdv`` unless
configured): the namespace ``<prefix>-<route>``, the veth pair
``<prefix>h<N>`` (host side) / ``<prefix>p<N>`` (namespace side), the tun
``<prefix>t<N>`` or ``<prefix>w<N>`` (WireGuard). A route's runtime directory
``/run/pellacia-vpn/<namespace>/`` holds its lock (held while a process owns
the route), the recorded PIDs and the 0600 files the tunnel reads. Anything
with our prefix whose lock is free belongs to a crashed run and is removed by
:func:`clean_stale`, which is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pellacia.errors import Transient

RUN_DIR = Path("/run/pellacia-vpn")
NETNS_ETC = Path("/etc/netns")
WG_SOCKETS = Path("/var/run/wireguard")
DEFAULT_PREFIX = "pdv"
DEFAULT_SUBNET = "10.201.0.0/16"
SOCKS_PORT = 1080


class TunnelError(Transient):
    """A tunnel route cannot be brought up or stopped working (retryable)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, network=True)


@dataclass(frozen=True)
class Names:
    """Every name and address of one tunnel route."""

    route: str
    prefix: str
    index: int
    subnet: str = DEFAULT_SUBNET

    @property
    def netns(self) -> str:
        return f"{self.prefix}-{self.route}"

    @property
    def veth_host(self) -> str:
        return f"{self.prefix}h{self.index}"

    @property
    def veth_ns(self) -> str:
        return f"{self.prefix}p{self.index}"

    @property
    def tun(self) -> str:
        return f"{self.prefix}t{self.index}"

    @property
    def wg(self) -> str:
        return f"{self.prefix}w{self.index}"

    def _address(self, offset: int) -> str:
        network = ipaddress.ip_network(self.subnet)
        return str(network.network_address + 4 * self.index + offset)

    @property
    def host_ip(self) -> str:
        return self._address(1)

    @property
    def ns_ip(self) -> str:
        """The namespace end of the veth: where the SOCKS5 egress listens."""
        return self._address(2)

    @property
    def proxy_url(self) -> str:
        return f"socks5://{self.ns_ip}:{SOCKS_PORT}"

    @property
    def run_dir(self) -> Path:
        return RUN_DIR / self.netns


async def run(*argv: str, stdin: bytes | None = None, check: bool = True) -> str:
    """Run a short command; ``TunnelError`` with its stderr when it fails and ``check``."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin)
    if check and proc.returncode != 0:
        raise TunnelError(f"{' '.join(argv[:4])} failed: {err.decode(errors='replace').strip()}")
    return out.decode(errors="replace")


def run_sync(*argv: str) -> str:
    """:func:`run` for teardown paths that may run without an event loop."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return done.stdout


def missing_privileges() -> str | None:
    """Why tunnels cannot be brought up here, or None when they can."""
    if os.geteuid() != 0:
        return "bringing a tunnel up needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN)"
    if not Path("/dev/net/tun").exists():
        return "/dev/net/tun is missing (no tun support in this kernel or container)"
    if shutil.which("ip") is None:
        return "the ip program (iproute2) is not installed"
    return None


class Lock:
    """The route's ownership lock: an flock held while this process owns it."""

    def __init__(self, names: Names) -> None:
        self.path = names.run_dir / "lock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


async def create(names: Names) -> None:
    """The namespace (lo up) and the veth pair to it; nothing else leads out of it."""
    ns, host, inside = names.netns, names.veth_host, names.veth_ns
    await run("ip", "netns", "add", ns)
    await run("ip", "-n", ns, "link", "set", "lo", "up")
    await run("ip", "link", "add", host, "type", "veth", "peer", "name", inside, "netns", ns)
    await run("ip", "addr", "add", f"{names.host_ip}/30", "dev", host)
    await run("ip", "link", "set", host, "up")
    await run("ip", "-n", ns, "addr", "add", f"{names.ns_ip}/30", "dev", inside)
    await run("ip", "-n", ns, "link", "set", inside, "up")
    # a CONNECT through a dead tunnel gives up in ~7 s instead of ~127 s
    await run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.tcp_syn_retries=2")


def record_pid(names: Names, pid: int) -> None:
    """Remember a child so that a later run can stop it if this one crashes."""
    with (names.run_dir / "pids").open("a") as file:
        file.write(f"{pid}\n")


def destroy(names: Names) -> None:
    """Remove everything of one route (idempotent, synchronous: also runs at exit)."""
    pids_file = names.run_dir / "pids"
    pids = set()
    if pids_file.exists():
        pids = {int(p) for p in pids_file.read_text().split() if p.isdigit()}
    if (Path("/run/netns") / names.netns).exists():
        pids |= {int(p) for p in run_sync("ip", "netns", "pids", names.netns).split()}
    _stop_pids(pids, names)
    for link in (names.veth_ns, names.tun, names.wg):
        run_sync("ip", "-n", names.netns, "link", "del", link)
    run_sync("ip", "link", "del", names.veth_host)
    run_sync("ip", "netns", "del", names.netns)
    shutil.rmtree(NETNS_ETC / names.netns, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        (WG_SOCKETS / f"{names.wg}.sock").unlink()
    for name in ("pids", "auth", "up.sh"):
        with contextlib.suppress(FileNotFoundError):
            (names.run_dir / name).unlink()


def _ours(pid: int, names: Names) -> bool:
    """Whether ``pid`` still is one of this route's processes (not a recycled PID)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    markers = (names.netns, names.tun, names.wg, names.ns_ip)
    return any(m.encode() in cmdline for m in markers) or _in_netns(pid, names)


def _in_netns(pid: int, names: Names) -> bool:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{names.netns}").st_ino
    except OSError:
        return False


def _stop_pids(pids: set[int], names: Names) -> None:
    import time

    alive = {p for p in pids if _ours(p, names)}
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 2.0
    while alive and time.monotonic() < deadline:
        alive = {p for p in alive if _running(p)}
        time.sleep(0.01)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def clean_stale(prefix: str) -> list[str]:
    """Remove the namespaces, links and sockets of crashed runs; the names removed."""
    removed = []
    namespaces = [line.split()[0] for line in run_sync("ip", "netns", "list").splitlines() if line]
    candidates = {ns for ns in namespaces if ns.startswith(f"{prefix}-")}
    if RUN_DIR.exists():
        candidates |= {d.name for d in RUN_DIR.iterdir() if d.name.startswith(f"{prefix}-")}
    for ns in sorted(candidates):
        names = _names_of(ns, prefix)
        lock = Lock(names)
        if not lock.acquire():
            continue  # a live process owns it
        try:
            destroy(names)
            if ns in namespaces:
                removed.append(ns)
            shutil.rmtree(names.run_dir, ignore_errors=True)
        finally:
            lock.release()
    for line in run_sync("ip", "-o", "link", "show").splitlines():
        link = line.split(":")[1].strip().split("@")[0]
        if link.startswith(f"{prefix}h") and not _owned_link(link, prefix):
            run_sync("ip", "link", "del", link)
            removed.append(link)
    return removed


def _names_of(netns: str, prefix: str) -> Names:
    """The names of a route from its namespace (the index from its recorded file)."""
    index_file = RUN_DIR / netns / "index"
    index = int(index_file.read_text()) if index_file.exists() else 0
    return Names(route=netns.removeprefix(f"{prefix}-"), prefix=prefix, index=index)


def _owned_link(link: str, prefix: str) -> bool:
    """Whether a host veth belongs to a route some live process holds."""
    if not RUN_DIR.exists():
        return False
    for directory in RUN_DIR.iterdir():
        index_file = directory / "index"
        if (
            directory.name.startswith(f"{prefix}-")
            and index_file.exists()
            and f"{prefix}h{index_file.read_text().strip()}" == link
        ):
            return True
    return False
