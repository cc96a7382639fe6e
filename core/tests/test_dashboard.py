"""The dashboard under Textual's pilot, over a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pellacia.config import Settings, SpacingSettings
from pellacia.dashboard.app import Dashboard
from pellacia.dashboard.data import DatabaseSource
from pellacia.scheduling.testing import enqueue
from pellacia.store import accounts, deliveries, queue
from pellacia.store.models import DeliveryState
from pellacia.store.pool import create_pool
from textual.widgets import DataTable, Static


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[Any]:
    pool = await create_pool(pg_dsn, max_size=4)
    yield pool
    await pool.close()


async def seed(conn: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    [manual] = await enqueue(conn, platforms=[("yt", "news")], due_at=now - timedelta(minutes=1))
    await queue.claim(
        conn,
        worker_id="w",
        now=now,
        lease_seconds=60,
        limit=5,
        spacing=lambda _p: SpacingSettings(min_interval=0, jitter=0),
    )
    await deliveries.transition(
        conn, manual, DeliveryState.MANUAL, owner="w", release=True, reason="needs a person"
    )
    [flying] = await enqueue(conn, platforms=[("yt", "sport")], due_at=now - timedelta(minutes=1))
    await queue.claim(
        conn,
        worker_id="w",
        now=now,
        lease_seconds=60,
        limit=5,
        spacing=lambda _p: SpacingSettings(min_interval=0, jitter=0),
    )
    await conn.execute(
        "UPDATE deliveries SET bytes_sent = 250, bytes_total = 1000, layer = 'api',"
        " route = 'direct' WHERE id = $1",
        flying,
    )
    [held] = await enqueue(conn, platforms=[("tt", "main")], due_at=now - timedelta(minutes=1))
    await accounts.pause(conn, "tt", "main", now=now, until=None, reason="strike", by="test")
    return {"manual": manual, "held": held, "flying": flying}


def rows(app: Dashboard, name: str) -> list[list[str]]:
    table = app.query_one(f"#{name}", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_dashboard_shows_and_acts(pool: Any, tmp_path: Path) -> None:
    async with pool.acquire() as conn:
        ids = await seed(conn)
    settings = Settings(data_dir=tmp_path, database_url=None)
    app = Dashboard(DatabaseSource(pool, settings), who="test-operator")
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        assert ["tt/main", "now", "0", "1", "PAUSED: strike"] in rows(app, "accounts")
        assert [str(ids["held"])[:8], "tt/main", "paused: strike", "-"] in rows(app, "waiting")
        [manual] = rows(app, "manual")
        assert manual[:2] == [str(ids["manual"])[:8], "yt/news"]
        assert ["yt", "manual", "1"] in rows(app, "counts")
        assert rows(app, "in-flight") == [
            [str(ids["flying"])[:8], "yt/sport", "claimed", "25%", "api", "direct"]
        ]
        assert "manual 1" in str(app.query_one("#headline", Static).render())
        # r on the manual queue: the delivery goes back to the queue
        app.query_one("#manual", DataTable).focus()
        await pilot.press("r")
        await pilot.pause()
        assert rows(app, "manual") == []
        # p on the paused account resumes it
        accounts_table = app.query_one("#accounts", DataTable)
        accounts_table.focus()
        accounts_table.move_cursor(row=[r[0] for r in rows(app, "accounts")].index("tt/main"))
        await pilot.press("p")
        await pilot.pause()
        assert ["tt/main", "now", "0", "1", "ok"] in rows(app, "accounts")
        kinds = [r[1] for r in rows(app, "events")]
        assert "account.resumed" in kinds and "operator.action" in kinds
    async with pool.acquire() as conn:
        state = await conn.fetchval("SELECT state FROM deliveries WHERE id = $1", ids["manual"])
        by = await conn.fetchval("SELECT payload->>'by' FROM events WHERE kind = 'operator.action'")
    assert state == "ready" and by == "test-operator"
