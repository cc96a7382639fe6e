"""Token health: refresh ahead of expiry, warn before a sign-in dies, ``auth list``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pellacia.alerts.token_health import TokenHealth, health
from pellacia.cli.main import cli
from pellacia.contract import Alert, TokenSet
from pellacia.plugins import load_plugins
from pellacia.store.pool import create_pool
from pellacia.vault import open_vault
from pellacia_testplatform.fixtures import settings_for


class Recorded:
    """An alert sink that keeps what it got."""

    name = "recorded"

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[Any]:
    pool = await create_pool(pg_dsn, max_size=4)
    yield pool
    await pool.close()


async def test_refresh_ahead_and_warn_before_death(
    testplatform: Any, pool: Any, tmp_path: Path
) -> None:
    settings = settings_for(testplatform, tmp_path, sandbox_url=testplatform.url)
    vault = open_vault(tmp_path, None)
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        # ends in 5 minutes: refreshed now, not at the next upload
        await vault.put(
            conn,
            "testplatform",
            "soon",
            TokenSet("tp-token-static", "tp-refresh", expires_at=now + timedelta(minutes=5)),
        )
        # fine for hours, but its refresh token dies in 3 days
        await vault.put(
            conn,
            "testplatform",
            "dying",
            TokenSet(
                "tp-token-static",
                "tp-refresh",
                expires_at=now + timedelta(hours=5),
                refresh_expires_at=now + timedelta(days=3),
            ),
        )
        await vault.put(
            conn,
            "testplatform",
            "fine",
            TokenSet("tp-token-static", "tp-refresh", expires_at=now + timedelta(hours=5)),
        )
    sink = Recorded()
    timer = TokenHealth(pool, settings, load_plugins(settings.plugins), sinks=[sink])
    await timer.run_once()
    assert sorted(timer.refreshed) == [("testplatform", "dying"), ("testplatform", "soon")]
    async with pool.acquire() as conn:
        soon = await vault.get(conn, "testplatform", "soon")
        infos = {i.account: i for i in await vault.list(conn)}
    assert soon.access_token != "tp-token-static"
    assert soon.expires_at > now + timedelta(minutes=30)
    [alert] = sink.alerts
    assert alert.level == "warning" and alert.title.startswith(
        "testplatform/dying: sign-in dies in 2 d"
    )
    assert "auth login testplatform --account dying" in alert.body
    assert health(infos["fine"], now).text == "ok"
    # once a day: the next look neither refreshes it again nor repeats the warning
    await timer.run_once()
    assert len(sink.alerts) == 1 and len(timer.refreshed) == 2
    async with pool.acquire() as conn:
        recorded = await conn.fetchval("SELECT count(*) FROM events WHERE kind = 'alert'")
    assert recorded == 1


def test_auth_list_shows_health(
    pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PELLACIA_DATABASE_URL", pg_dsn)
    monkeypatch.setenv("PELLACIA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PELLACIA_CONFIG", str(tmp_path / "none.toml"))
    now = datetime.now(UTC)
    token = {
        "access_token": "a",
        "refresh_token": "r",
        "expires_in": 3600,
        "refresh_token_expires_in": int(timedelta(days=2, hours=1).total_seconds()),
    }
    runner = CliRunner()
    result = runner.invoke(
        cli, ["auth", "set", "linkedin", "--account", "news", "--stdin"], input=json.dumps(token)
    )
    assert result.exit_code == 0, result.output
    [row] = json.loads(runner.invoke(cli, ["auth", "list", "--json"]).output)
    assert row["health"] == "warning"
    assert row["status"].startswith("dies in 2 d") and row["status"].endswith("log in again")
    assert now < datetime.fromisoformat(row["refresh_expires_at"])
