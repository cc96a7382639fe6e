"""``pellacia-dist test platform``: pass/fail per step, exit 0/1."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from pellacia.cli.main import cli
from pellacia.plugins import reset_registry
from pellacia.store import quotas
from pellacia.store.pool import connect_one


@pytest.fixture
def env(pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PELLACIA_DATABASE_URL", pg_dsn)
    monkeypatch.setenv("PELLACIA_DATA_DIR", str(tmp_path))
    config = tmp_path / "config.toml"
    monkeypatch.setenv("PELLACIA_CONFIG", str(config))
    reset_registry()
    return config


def test_platform_without_credentials_fails_with_the_fix(env: Path) -> None:
    result = CliRunner().invoke(cli, ["test", "platform", "youtube", "--account", "news"])
    assert result.exit_code == 1, result.output
    assert "PASS plugin" in result.output
    assert "FAIL token" in result.output and "auth login youtube" in result.output


def test_platform_with_a_token_passes(env: Path, pg_dsn: str) -> None:
    env.write_text('[plugins.youtube]\naccess_token = "sandbox-token"\n')
    result = CliRunner().invoke(cli, ["test", "platform", "youtube"])
    assert result.exit_code == 0, result.output
    assert "PASS token: valid" in result.output
    assert "PASS quota: youtube:daily-units 10000 of 10000 left" in result.output
    asyncio.run(_block(pg_dsn))
    result = CliRunner().invoke(cli, ["test", "platform", "youtube"])
    assert result.exit_code == 1
    assert (
        "FAIL quota: rate-limited until" in result.output and "(429 from the API)" in result.output
    )


async def _block(dsn: str) -> None:
    conn = await connect_one(dsn)
    try:
        until = datetime.now(UTC) + timedelta(hours=1)
        await quotas.block(
            conn, platform="youtube", account="*", until=until, reason="429 from the API"
        )
    finally:
        await conn.close()


def test_unknown_platform_fails(env: Path) -> None:
    result = CliRunner().invoke(cli, ["test", "platform", "myspace"])
    assert result.exit_code == 1
    assert "FAIL plugin: no installed plugin provides 'myspace'" in result.output
