"""``vpn import|status|down|check`` and ``test vpn`` against the test world."""

from __future__ import annotations

import json
import os
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


def test_up_holds_the_routes_and_status_shows_them(cli, world, tmp_path: Path) -> None:
    """`vpn up` in its own process; `vpn status` from another sees it; Ctrl-C takes it down."""
    import signal
    import sys

    app = config(tmp_path)
    assert app.config_file is not None
    runner = CliRunner()
    result = runner.invoke(
        cli, ["vpn", "import", str(world.wireguard_client("c3")), "--name", "c3"], obj=app
    )
    assert result.exit_code == 0, result.output
    env = {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}
    env.update(PELLACIA_CONFIG=str(app.config_file), PELLACIA_LOAD_PLUGINS="vpn", NO_COLOR="1")
    up = subprocess.Popen(
        [str(Path(sys.executable).with_name("pellacia-dist")), "vpn", "up"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert up.stdout is not None
        first = up.stdout.readline()
        assert first.startswith("vpn:c3: ok (egress 10.9.0."), first
        assert up.stdout.readline().startswith("routes are up")
        result = runner.invoke(cli, ["vpn", "status", "--json"], obj=config(tmp_path))
        [status] = json.loads(result.stdout)
        assert status["held"] and status["state"] == "up"
        assert status["egress_ip"] == first.split("egress ")[1].split(";")[0]
        assert status["latency_ms"] > 0 and status["proxy"].startswith("socks5://10.203.")
        result = runner.invoke(cli, ["vpn", "down"], obj=config(tmp_path))
        assert result.output.strip() == "nothing to remove"  # held by a live process
    finally:
        up.send_signal(signal.SIGINT)
        up.communicate(timeout=20)
    assert up.returncode == 0
    assert (
        "pvc-c3"
        not in subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, check=True
        ).stdout
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
