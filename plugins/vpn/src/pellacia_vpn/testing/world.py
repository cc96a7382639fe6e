"""A test "world" for tunnel routes, entirely inside namespaces the tests create.

``<prefix>-srv`` stands for the internet: a veth to the host (host
10.200.0.2, srv 10.200.0.1, a connected /30: nothing else is routed), a real
OpenVPN server (certificates made here, tls-crypt, user/password checked by
a script, no client certificate: the way ProtonVPN's are set up), a real
wireguard-go server, and an HTTP endpoint answering with the client's
address. Provider-style client files are written for each route. Nothing here
sends a packet anywhere but to these namespaces.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "pvt"  # the world's namespaces and links; routes under test use "pvr"
SRV = f"{PREFIX}-srv"
HOST_IP, SRV_IP = "10.200.0.2", "10.200.0.1"
# the HTTP endpoint's own address (OpenVPN drops tunnel packets to its server's address)
WEB_IP = "10.99.0.10"
DNS_IP = "10.99.0.53"  # pushed by the OpenVPN server, named by the WireGuard files
WEB_NAME = "platform.test"  # resolved by the world's DNS only
HOST_LINK, SRV_LINK = f"{PREFIX}sh", f"{PREFIX}ss"
OVPN_SERVER_DEV, WG_SERVER_DEV = f"{PREFIX}ovs", f"{PREFIX}wgs"
HTTP_PORT, OVPN_PORT, WG_PORT = 8080, 1194, 51820
CHECK_URL = f"http://{WEB_IP}:{HTTP_PORT}/ip"
ECHO_MODULE = "pellacia_vpn.testing.echo"


def sh(*argv: str, check: bool = True, cwd: Path | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


def requirements_missing() -> str | None:
    """Why the world cannot be built here (the reason a test is skipped), or None."""
    if os.geteuid() != 0:
        return "tunnel tests need root"
    if not Path("/dev/net/tun").exists():
        return "no /dev/net/tun"
    for program in ("ip", "openvpn", "wireguard-go", "wg", "microsocks", "openssl"):
        if shutil.which(program) is None:
            return f"{program} is not installed (scripts/bootstrap installs it)"
    return None


@dataclass
class World:
    directory: Path
    processes: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    wg_peers: dict[str, str] = field(default_factory=dict)  # route -> client public key

    @property
    def echo_log(self) -> Path:
        return self.directory / "echo.log"

    def seen_clients(self) -> list[str]:
        """Every client address the HTTP endpoint has answered, in order."""
        if not self.echo_log.exists():
            return []
        lines = [line.split() for line in self.echo_log.read_text().splitlines()]
        return [line[0] for line in lines if len(line) == 2 and line[1].startswith("/")]

    def dns_queries(self) -> list[tuple[str, str]]:
        """(client address, name) of every DNS query the world's resolver got."""
        lines = [line.split() for line in self.echo_log.read_text().splitlines()]
        return [(ln[0], ln[1][4:]) for ln in lines if len(ln) == 2 and ln[1].startswith("dns:")]

    # --------------------------------------------------------------- building
    def build(self) -> None:
        teardown()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._pki()
        sh("ip", "netns", "add", SRV)
        sh("ip", "-n", SRV, "link", "set", "lo", "up")
        sh("ip", "link", "add", HOST_LINK, "type", "veth", "peer", "name", SRV_LINK, "netns", SRV)
        sh("ip", "addr", "add", f"{HOST_IP}/30", "dev", HOST_LINK)
        sh("ip", "link", "set", HOST_LINK, "up")
        sh("ip", "-n", SRV, "addr", "add", f"{SRV_IP}/30", "dev", SRV_LINK)
        sh("ip", "-n", SRV, "link", "set", SRV_LINK, "up")
        sh("ip", "-n", SRV, "addr", "add", f"{WEB_IP}/32", "dev", "lo")
        sh("ip", "-n", SRV, "addr", "add", f"{DNS_IP}/32", "dev", "lo")
        # the "direct" path of the host to the endpoint: through the world's veth only
        sh("ip", "route", "add", f"{WEB_IP}/32", "via", SRV_IP, "dev", HOST_LINK)
        for address in (SRV_IP, WEB_IP):  # never the real gateway
            assert f"dev {HOST_LINK}" in sh("ip", "route", "get", address)
        self._echo()
        self.start_openvpn_server()
        self.start_wireguard_server()

    def _pki(self) -> None:
        d = self.directory
        old = os.umask(0o077)
        try:
            ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
            sh("openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt",
               "-subj", "/CN=world-ca", "-days", "2", cwd=d)  # fmt: skip
            sh("openssl", "req", *ec, "-keyout", "server.key", "-out", "server.csr",
               "-subj", "/CN=server", cwd=d)  # fmt: skip
            (d / "ext").write_text("extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n")
            sh("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
               "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext", cwd=d)  # fmt: skip
            sh("openvpn", "--genkey", "tls-crypt", "tc.key", cwd=d)
            (d / "wgs.key").write_text(sh("wg", "genkey"))
        finally:
            os.umask(old)

    def _echo(self) -> None:
        with self.echo_log.open("w") as log:  # the child keeps its own descriptor
            self.processes["echo"] = subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    SRV,
                    sys.executable,
                    "-m",
                    ECHO_MODULE,
                    "0.0.0.0",
                    str(HTTP_PORT),
                    DNS_IP,
                    WEB_IP,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
        wait_port(WEB_IP, HTTP_PORT)

    def start_openvpn_server(self) -> None:
        d = self.directory
        check = d / "check.sh"
        check.write_text(
            '#!/bin/sh\nuser=$(sed -n 1p "$1"); pass=$(sed -n 2p "$1")\n'
            f'grep -qxF "$user $pass" {d / "users"}\n'
        )
        check.chmod(0o700)
        (d / "users").touch()
        argv = [
            "ip", "netns", "exec", SRV, "openvpn", "--dev", OVPN_SERVER_DEV, "--dev-type", "tun",
            "--proto", "udp", "--port", str(OVPN_PORT), "--topology", "subnet",
            "--server", "10.8.0.0", "255.255.255.0",
            "--ca", "ca.crt", "--cert", "server.crt", "--key", "server.key", "--dh", "none",
            "--tls-crypt", "tc.key", "--verify-client-cert", "none", "--username-as-common-name",
            "--duplicate-cn", "--script-security", "2", "--auth-user-pass-verify", str(check),
            "via-file", "--push", "redirect-gateway def1", "--push", "dhcp-option DNS 10.99.0.53",
            "--push", "block-outside-dns", "--keepalive", "5", "20",
            "--data-ciphers", "AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305", "--disable-dco",
            "--verb", "3",
        ]  # fmt: skip
        with (d / "openvpn-server.log").open("w") as log:
            proc = subprocess.Popen(argv, cwd=d, stdout=log, stderr=subprocess.STDOUT, text=True)
        self.processes["openvpn"] = proc
        wait_for(lambda: "Initialization Sequence Completed" in (d / "openvpn-server.log").read_text(),
                 proc)  # fmt: skip

    def start_wireguard_server(self) -> None:
        sock = Path(f"/var/run/wireguard/{WG_SERVER_DEV}.sock")
        sock.unlink(missing_ok=True)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", SRV, "wireguard-go", "-f", WG_SERVER_DEV],
            env={**os.environ, "WG_PROCESS_FOREGROUND": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes["wireguard"] = proc  # type: ignore[assignment]
        wait_for(sock.exists, proc)
        sh("wg", "set", WG_SERVER_DEV, "listen-port", str(WG_PORT),
           "private-key", str(self.directory / "wgs.key"))  # fmt: skip
        sh("ip", "-n", SRV, "addr", "add", "10.9.0.254/24", "dev", WG_SERVER_DEV)
        sh("ip", "-n", SRV, "link", "set", WG_SERVER_DEV, "up")
        for index, public in enumerate(self.wg_peers.values(), start=1):
            sh("wg", "set", WG_SERVER_DEV, "peer", public, "allowed-ips", f"10.9.0.{index}/32")

    def stop(self, name: str) -> None:
        """Kill one server process (a VPN server "going down")."""
        proc = self.processes.pop(name)
        proc.kill()
        proc.wait()
        # `ip netns exec` execs the program, so the PID is the server itself
        if name == "wireguard":
            Path(f"/var/run/wireguard/{WG_SERVER_DEV}.sock").unlink(missing_ok=True)

    # ------------------------------------------------------ provider files
    def openvpn_client(self, route: str, password: str) -> Path:
        """An ordinary provider .ovpn (credentials asked separately) for user ``route``."""
        self.users[route] = password
        users = self.directory / "users"
        users.write_text("".join(f"{u} {p}\n" for u, p in self.users.items()))
        ca = (self.directory / "ca.crt").read_text()
        tc = (self.directory / "tc.key").read_text()
        path = self.directory / f"{route}.ovpn"
        path.write_text(
            "client\ndev tun\nproto udp\n"
            f"remote {SRV_IP} {OVPN_PORT}\n"
            "resolv-retry infinite\nnobind\npersist-key\npersist-tun\n"
            "remote-cert-tls server\nverify-x509-name server name\nauth-user-pass\n"
            f"<ca>\n{ca}</ca>\n<tls-crypt>\n{tc}</tls-crypt>\n"
        )
        return path

    def wireguard_client(self, route: str) -> Path:
        """A provider wg-quick file; its peer is registered on the server."""
        private = sh("wg", "genkey").strip()
        public = subprocess.run(
            ["wg", "pubkey"], input=private, capture_output=True, text=True, check=True
        ).stdout.strip()
        server_public = subprocess.run(
            ["wg", "pubkey"],
            input=(self.directory / "wgs.key").read_text(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        self.wg_peers[route] = public
        index = len(self.wg_peers)
        path = self.directory / f"{route}.conf"
        path.write_text(
            f"[Interface]\nPrivateKey = {private}\nAddress = 10.9.0.{index}/32\nDNS = 10.99.0.53\n\n"
            f"[Peer]\nPublicKey = {server_public}\nAllowedIPs = 0.0.0.0/0, ::/0\n"
            f"Endpoint = {SRV_IP}:{WG_PORT}\nPersistentKeepalive = 25\n"
        )
        if WG_SERVER_DEV in sh("ip", "-n", SRV, "-br", "link", check=False):
            sh("wg", "set", WG_SERVER_DEV, "peer", public, "allowed-ips", f"10.9.0.{index}/32")
        path.chmod(0o600)
        return path

    def close(self) -> None:
        for proc in self.processes.values():
            proc.kill()
            proc.wait()
        self.processes.clear()
        teardown()


def teardown() -> None:
    """Remove the world (idempotent; also run first, after a crashed run)."""
    if SRV in sh("ip", "netns", "list"):
        for pid in sh("ip", "netns", "pids", SRV, check=False).split():
            subprocess.run(["kill", "-9", pid], check=False)
        for link in (SRV_LINK, OVPN_SERVER_DEV, WG_SERVER_DEV):
            sh("ip", "-n", SRV, "link", "del", link, check=False)
        sh("ip", "netns", "del", SRV, check=False)
    sh("ip", "route", "del", f"{WEB_IP}/32", check=False)
    sh("ip", "link", "del", HOST_LINK, check=False)
    Path(f"/var/run/wireguard/{WG_SERVER_DEV}.sock").unlink(missing_ok=True)


def wait_port(host: str, port: int, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while True:
        try:
            socket.create_connection((host, port), 0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def wait_for(
    ready: object, proc: subprocess.Popen[str] | subprocess.Popen[bytes], limit: float = 10.0
) -> None:
    assert callable(ready)
    deadline = time.monotonic() + limit
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"world server did not start (exit {proc.returncode})")
        time.sleep(0.01)
