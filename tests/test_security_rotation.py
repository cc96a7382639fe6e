"""A vault key rotation loses no secret: a VPN route's password, sealed by the
VPN plugin in its own file (not in the database the rotation re-seals), still
opens after ``vault rotate-key`` and is sealed again under the new key."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pellacia.testing.cli import CLI, cli_env
from pellacia.vault import load_keyring
from pellacia_vpn.sealed import open_credentials


def _cli(env: dict[str, str], *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [CLI, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_a_vpn_password_survives_a_key_rotation(pg_dsn: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = cli_env(
        PELLACIA_DATABASE_URL=pg_dsn,
        PELLACIA_DATA_DIR=str(data),
        PELLACIA_CONFIG=str(tmp_path / "none.toml"),
    )
    ovpn = tmp_path / "route.ovpn"
    ovpn.write_text("client\ndev tun\nremote 127.0.0.1 1194\nauth-user-pass\n")
    _cli(env, "vpn", "import", str(ovpn), "--name", "r1", "--username", "u1",
         "--password-stdin", stdin="rotation-pw-Xq7\n")  # fmt: skip
    [sealed] = list(data.rglob("r1.auth"))
    before = load_keyring(data, None).current.key_id
    _cli(env, "vault", "rotate-key")
    after = load_keyring(data, None).current.key_id
    assert after != before and [k.key_id for k in load_keyring(data, None).keys] == [after]
    opened = open_credentials(data, "r1", sealed)
    assert (opened.username, opened.password) == ("u1", "rotation-pw-Xq7")
    # sealed again under the new key: it no longer needs the retired one
    assert sealed.read_bytes().split(b"\n", 1)[0].decode() == after
    for retired in data.glob("secret.key.old-*"):
        retired.unlink()
    assert open_credentials(data, "r1", sealed).password == "rotation-pw-Xq7"
