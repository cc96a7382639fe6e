"""``vpn import|status|down|check`` and ``test vpn`` against the test world."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from pellacia.cli.context import AppContext
from pellacia.plugins import install_commands, load_plugins
from pellacia_vpn.testing import world as w


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> click.Group:
    monkeypatch.setenv("PELLACIA_LOAD_PLUGINS", "vpn")
    monkeypatch.setenv("PELLACIA_STRICT_PLUGINS", "1")
    root = click.Group()
    install_commands(load_plugins(include_defaults=False), root)
    return root


def config(tmp_path: Path, check_url: str = w.CHECK_URL) -> AppContext:
    path = tmp_path / "config.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        f'[plugins.vpn]\nprefix = "pvc"\nsubnet = "10.203.0.0/16"\ncheck_url = "{check_url}"\n'
    )
    return AppContext(config_file=path)


def test_import_then_test_vpn_proves_each_egress_differs(cli, world, tmp_path: Path) -> None:
    runner = CliRunner()
    ovpn = world.openvpn_client("c1", "pw-c1-secret")
    wg = world.wireguard_client("c2")
    args = ["vpn", "import", str(ovpn), "--name", "c1", "--platforms", "tiktok"]
    result = runner.invoke(
        cli,
        [*args, "--username", "c1", "--password-stdin"],
        input="pw-c1-secret\n",
        obj=config(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert "imported vpn:c1 (openvpn)" in result.output
    result = runner.invoke(cli, ["vpn", "import", str(wg), "--name", "c2"], obj=config(tmp_path))
    assert result.exit_code == 0, result.output

    result = runner.invoke(cli, ["test", "vpn", "--json"], obj=config(tmp_path))
    assert result.exit_code == 0, result.output
    found = {item["route"]: item for item in json.loads(result.stdout)}
    assert found["direct"]["egress_ip"] == w.HOST_IP
    assert found["vpn:c1"]["egress_ip"].startswith("10.8.0.")
    assert found["vpn:c2"]["egress_ip"].startswith("10.9.0.")
    assert all(item["ok"] for item in found.values())
    assert "pw-c1-secret" not in result.output

    result = runner.invoke(cli, ["vpn", "status", "--json"], obj=config(tmp_path))
    states = {item["route"]: (item["state"], item["held"]) for item in json.loads(result.stdout)}
    assert states == {"vpn:c1": ("not running", False), "vpn:c2": ("not running", False)}
    result = runner.invoke(cli, ["vpn", "down"], obj=config(tmp_path))
    assert result.output.strip() == "nothing to remove"


def test_test_vpn_fails_a_route_whose_egress_is_the_direct_one(cli, world, tmp_path: Path) -> None:
    """A SOCKS proxy on this host hides nothing: ``test vpn`` says so, and exits 1."""
    port = free_port()
    proxy = subprocess.Popen(
        ["microsocks", "-i", "127.0.0.1", "-p", str(port)], stderr=subprocess.DEVNULL
    )
    try:
        app = config(tmp_path)
        assert app.config_file is not None
        with app.config_file.open("a") as file:
            file.write(f'[plugins.vpn.routes.local]\nurl = "socks5://127.0.0.1:{port}"\n')
        result = CliRunner().invoke(cli, ["test", "vpn"], obj=app)
    finally:
        proxy.terminate()
        proxy.wait()
    assert result.exit_code == 1, result.output
    assert f"direct: ok (egress {w.HOST_IP}" in result.output
    assert f"vpn:local: failed (egress {w.HOST_IP};" in result.output
    assert "egress is the same as the direct one" in result.output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
