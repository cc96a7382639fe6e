"""``queue status|clear|retry`` over a real database."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pellacia.cli.main import cli
from pellacia.config import SpacingSettings
from pellacia.scheduling.testing import enqueue
from pellacia.store import queue, quotas
from pellacia.store.deliveries import cancel, transition
from pellacia.store.models import DeliveryState
from pellacia.store.pool import connect_one


@pytest.fixture
def env(pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PELLACIA_DATABASE_URL", pg_dsn)
    monkeypatch.setenv("PELLACIA_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("PELLACIA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PELLACIA_TIMEZONE", "Europe/Paris")
    return pg_dsn


async def _seed(dsn: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    conn = await connect_one(dsn)
    try:
        spaced = SpacingSettings(min_interval=3600, jitter=0)
        [first] = await enqueue(conn, platforms=[("yt", "news")], due_at=now)
        [second] = await enqueue(conn, platforms=[("yt", "news")], due_at=now)
        [c] = await queue.claim(
            conn, worker_id="w", now=now, lease_seconds=15, limit=1, spacing=lambda _p: spaced
        )
        await conn.execute(
            "UPDATE deliveries SET upload_state = '{\"offset\": 42}' WHERE id = $1", c.id
        )
        await transition(conn, c.id, DeliveryState.FAILED, owner="w", release=True, reason="boom")
        [blocked] = await enqueue(conn, platforms=[("tt", "main")], due_at=now)
        await quotas.block(
            conn, platform="tt", account="main", until=now + timedelta(hours=1), reason="429"
        )
        return {"failed": c.id, "spaced": second if c.id == first else first, "blocked": blocked}
    finally:
        await conn.close()


def test_status_retry_clear(env: str) -> None:
    ids = asyncio.run(_seed(env))
    runner = CliRunner()
    result = runner.invoke(cli, ["queue", "status", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["counts"] == {"tt": {"ready": 1}, "yt": {"failed": 1, "ready": 1}}
    waits = {w["id"]: w for w in data["waiting"]}
    assert waits[str(ids["spaced"])]["reason"] == "spacing"
    assert waits[str(ids["blocked"])]["reason"] == "rate-limit: 429"
    news = next(a for a in data["accounts"] if a["account"] == "news")
    assert news["next_at"] is not None and news["in_flight"] == 0
    assert data["next_due"] is not None

    human = runner.invoke(cli, ["queue", "status"])
    assert human.exit_code == 0, human.output
    assert "(Europe/Paris)" in human.output and "spacing" in human.output

    retried = runner.invoke(cli, ["queue", "retry", "--id", str(ids["failed"])[:8], "--json"])
    assert retried.exit_code == 0, retried.output
    assert json.loads(retried.output)["previous_state"] == "failed"
    again = runner.invoke(cli, ["queue", "retry", "--id", str(ids["failed"])])
    assert again.exit_code == 2 and "only failed or manual" in again.output

    async def check() -> Any:
        conn = await connect_one(env)
        try:
            return await conn.fetchrow(
                "SELECT state, upload_state FROM deliveries WHERE id = $1", ids["failed"]
            )
        finally:
            await conn.close()

    row = asyncio.run(check())
    assert (row["state"], row["upload_state"]) == ("ready", {"offset": 42})

    asyncio.run(_claim_and_fail(env, ids["failed"], ids["spaced"]))
    refused = runner.invoke(cli, ["queue", "clear", "--status", "failed"], input="n\n")
    assert refused.exit_code == 1
    cleared = runner.invoke(cli, ["queue", "clear", "--status", "failed", "--yes", "--json"])
    assert cleared.exit_code == 0, cleared.output
    assert json.loads(cleared.output) == {"status": "failed", "deleted": 1}


async def _claim_and_fail(dsn: str, delivery_id: Any, other: Any) -> None:
    """The retried delivery fails again, by the real path: claimed, then failed
    (the other delivery of its account is cancelled so that it is next)."""
    conn = await connect_one(dsn)
    try:
        assert await cancel(conn, other) == "cancelled"
        now = datetime.now(UTC) + timedelta(days=1)  # past every spacing window
        free = SpacingSettings(min_interval=0, jitter=0)
        taken = await queue.claim(
            conn, worker_id="w2", now=now, lease_seconds=15, limit=10, spacing=lambda _p: free
        )
        claimed = next(c for c in taken if c.id == delivery_id)
        await transition(
            conn, claimed.id, DeliveryState.FAILED, owner="w2", release=True, reason="boom"
        )
    finally:
        await conn.close()
