"""`pellacia-dist auth login` end to end: the real OAuth flow (PKCE, loopback
redirect) against the sandbox fakes, tokens stored encrypted, never printed."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).with_name("pellacia-dist"))


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}
    full.update(env)
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=full, timeout=120)


@pytest.mark.parametrize("platform", ["tiktok", "youtube"])
def test_login_stores_refreshable_tokens_and_prints_none(
    platform: str, sandbox, pg_dsn: str, tmp_path: Path
) -> None:
    env = {
        "PELLACIA_DATABASE_URL": pg_dsn,
        "PELLACIA_DATA_DIR": str(tmp_path),
        "PELLACIA_SANDBOX_URL": sandbox.base_url,
    }
    login = run("auth", "login", platform, "--account", "newsroom", env=env)
    assert login.returncode == 0, login.stderr
    assert "connected" in login.stdout

    listed = run("auth", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    [entry] = json.loads(listed.stdout)
    assert (entry["platform"], entry["account"], entry["status"]) == (platform, "newsroom", "ok")
    assert entry["expires_at"] is not None

    # the stored tokens open with the vault key and never reach any output
    tokens = asyncio.run(stored_tokens(pg_dsn, tmp_path, platform))
    assert tokens.access_token and tokens.refresh_token
    combined = login.stdout + login.stderr + listed.stdout + listed.stderr
    assert tokens.access_token not in combined and tokens.refresh_token not in combined


async def stored_tokens(dsn: str, data_dir: Path, platform: str):
    from pellacia.store.pool import connect_one
    from pellacia.vault import open_vault

    conn = await connect_one(dsn)
    try:
        return await open_vault(data_dir, None).get(conn, platform, "newsroom")
    finally:
        await conn.close()
