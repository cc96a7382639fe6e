"""Files holding secrets are 0600 and the folders we create for them 0700,
whatever the umask: the vault key (made by the first command that needs it),
a VPN route's file and sealed password, the manual package of a delivery.
Checked with ``os.stat`` after the commands ran under umask 022 and 000."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pellacia.testing.cli import CLI, cli_env

PACKAGE = """
import uuid
from datetime import UTC, datetime
from pathlib import Path
from pellacia.delivery.manual import package_dir, write_package

did = uuid.uuid4()
video = Path({video!r})
write_package(
    package_dir(Path({data!r}), did),
    delivery={{"id": did, "platform": "youtube", "account": "default",
               "idempotency_key": "k", "receipt": None}},
    post={{"id": uuid.uuid4(), "video_path": str(video), "title": "t", "description": "",
           "hashtags": [], "priority": "normal", "scheduled_at": None, "timezone": None,
           "video_sha256": "0" * 64, "video_size": video.stat().st_size, "overrides": {{}}}},
    attempts=[{{"layer": "api", "error": "HTTP 503"}}],
    reason="every automatic layer failed",
    outcome_unknown=False,
)
"""


def _under_umask(mask: int, argv: list[str], env: dict[str, str], stdin: str = "") -> None:
    done = subprocess.run(
        argv,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        umask=mask,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o000])
def test_secret_files_are_private_whatever_the_umask(
    mask: int, pg_dsn: str, tmp_path: Path
) -> None:
    data = tmp_path / "home" / "share" / "pellacia"  # none of it exists yet
    env = cli_env(
        PELLACIA_DATABASE_URL=pg_dsn,
        PELLACIA_DATA_DIR=str(data),
        PELLACIA_CONFIG=str(tmp_path / "none.toml"),
    )
    token = json.dumps({"access_token": "at-files-test", "refresh_token": "rt-files-test"})
    _under_umask(mask, [CLI, "auth", "set", "youtube", "--stdin"], env, token)
    ovpn = tmp_path / "route.ovpn"
    ovpn.write_text("client\ndev tun\nremote 127.0.0.1 1194\nauth-user-pass\n")
    _under_umask(
        mask,
        [CLI, "vpn", "import", str(ovpn), "--name", "r1", "--username", "u", "--password-stdin"],
        env,
        "vpn-password-files-test\n",
    )
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\0" * 1024)
    script = PACKAGE.format(video=str(video), data=str(data))
    _under_umask(mask, [sys.executable, "-c", script], env)

    key = data / "secret.key"
    assert _mode(key) == 0o600
    [sealed] = list(data.rglob("r1.auth"))
    [route] = list(data.rglob("r1.ovpn"))
    assert _mode(sealed) == 0o600 and _mode(route) == 0o600
    [package] = list((data / "manual").iterdir())
    assert (package / "metadata.json").is_file()
    # every folder from the first one we made down to each file is 0700
    made = [tmp_path / "home", *(p for p in (tmp_path / "home").rglob("*") if p.is_dir())]
    assert len(made) >= 6, made
    loose = {str(p): oct(_mode(p)) for p in made if _mode(p) != 0o700}
    assert loose == {}
    assert os.access(key, os.R_OK)  # and the owner still reads it


def test_the_embedded_cluster_is_reachable_by_its_owner_only(pg_dsn: str) -> None:
    """No password guards the embedded PostgreSQL: only the 0700 folder holding its
    socket does (``trust`` on a socket nobody else can reach)."""
    from urllib.parse import parse_qs, urlsplit

    host = parse_qs(urlsplit(pg_dsn).query).get("host", [""])[0]
    if not host.startswith("/"):
        pytest.fail(f"the test database is not the embedded cluster: {pg_dsn}")
    socket_dir = Path(host)
    cluster = socket_dir.parent
    assert _mode(cluster) == 0o700, oct(_mode(cluster))
    assert (cluster / "pgdata" / "PG_VERSION").is_file() or any(cluster.iterdir())
