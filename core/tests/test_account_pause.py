"""Account pause/resume: a paused account's deliveries wait, never fail, and go when resumed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pellacia.cli.main import cli
from pellacia.config import SpacingSettings
from pellacia.scheduling.service import queue_status
from pellacia.scheduling.testing import enqueue
from pellacia.store import accounts, queue
from pellacia.store.pool import connect_one, create_pool

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NO_SPACING = SpacingSettings(min_interval=0, jitter=0)


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[Any]:
    pool = await create_pool(pg_dsn, max_size=4)
    yield pool
    await pool.close()


async def claim(conn: Any, now: datetime) -> list[Any]:
    return await queue.claim(
        conn, worker_id="w1", now=now, lease_seconds=15, limit=10, spacing=lambda _p: NO_SPACING
    )


async def test_paused_account_waits_and_resumes(pool: Any) -> None:
    async with pool.acquire() as conn:
        held = await enqueue(conn, platforms=[("yt", "news")], due_at=T0 - timedelta(minutes=1))
        news = await enqueue(
            conn, platforms=[("yt", "news")], due_at=T0 - timedelta(minutes=1), breaking=True
        )
        other = await enqueue(conn, platforms=[("yt", "sport")], due_at=T0)
        await accounts.pause(conn, "yt", "news", now=T0, until=None, reason="strike", by="op")
        # neither normal nor breaking posts of the paused account go; others do
        assert [c.id for c in await claim(conn, T0)] == other
        assert await claim(conn, T0) == []
        waits = await queue.waits(conn, T0, held + news)
        assert waits == {
            held[0]: queue.Wait("paused: strike", None),
            news[0]: queue.Wait("paused: strike", None),
        }
        assert await queue.next_due(conn, T0) is None  # nothing to wake up for
        status = await queue_status(conn, T0)
        [window] = [a for a in status.accounts if a.account == "news"]
        assert window.paused and window.pause_reason == "strike"
        state = await conn.fetchval("SELECT state FROM deliveries WHERE id = $1", held[0])
        assert state == "ready"  # waits, never fails

        assert await accounts.resume(conn, "yt", "news", now=T0, by="op")
        assert not await accounts.resume(conn, "yt", "news", now=T0, by="op")
        # breaking first (it holds normal posts on its account while in flight)
        assert [c.id for c in await claim(conn, T0)] == news
        kinds = await conn.fetch(
            "SELECT kind, payload FROM events WHERE kind LIKE 'account.%' ORDER BY id"
        )
        assert [(k["kind"], k["payload"]["by"]) for k in kinds] == [
            ("account.paused", "op"),
            ("account.resumed", "op"),
        ]


async def test_pause_with_an_end_wakes_the_worker_then(pool: Any) -> None:
    async with pool.acquire() as conn:
        held = await enqueue(conn, platforms=[("tt", "main")], due_at=T0)
        end = T0 + timedelta(minutes=30)
        await accounts.pause(conn, "tt", "main", now=T0, until=end, reason=None, by="op")
        assert await claim(conn, T0) == []
        assert await queue.waits(conn, T0, held) == {held[0]: queue.Wait("paused: by op", end)}
        assert await queue.next_due(conn, T0) == end
        assert [c.id for c in await claim(conn, end)] == held


async def _seed(dsn: str) -> Any:
    conn = await connect_one(dsn)
    try:
        return await enqueue(conn, platforms=[("yt", "news")], due_at=datetime.now(UTC))
    finally:
        await conn.close()


def test_account_cli(pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PELLACIA_DATABASE_URL", pg_dsn)
    monkeypatch.setenv("PELLACIA_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("PELLACIA_DATA_DIR", str(tmp_path))
    [delivery] = asyncio.run(_seed(pg_dsn))
    runner = CliRunner()
    result = runner.invoke(cli, ["account", "pause", "youtube", "--reason", "x"])
    assert result.exit_code == 2 and "platform/account" in result.output
    result = runner.invoke(cli, ["account", "pause", "yt/news", "--until", "2h", "--reason", "ban"])
    assert result.exit_code == 0, result.output
    listed = json.loads(runner.invoke(cli, ["account", "list", "--json"]).output)
    assert [(a["platform"], a["account"], a["paused"], a["reason"]) for a in listed] == [
        ("yt", "news", True, "ban")
    ]
    status = json.loads(runner.invoke(cli, ["queue", "status", "--json"]).output)
    assert status["waiting"][0]["id"] == str(delivery)
    assert status["waiting"][0]["reason"] == "paused: ban"
    assert status["accounts"][0]["paused"] is True
    assert "paused until" in runner.invoke(cli, ["queue", "status"]).output
    assert runner.invoke(cli, ["account", "resume", "yt/news"]).exit_code == 0
    result = runner.invoke(cli, ["account", "resume", "yt/news"])
    assert result.exit_code == 1 and "not paused" in result.output
    listed = json.loads(runner.invoke(cli, ["account", "list", "--json"]).output)
    assert listed[0]["paused"] is False
