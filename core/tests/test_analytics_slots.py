"""Posting slots (``schedule --at next-slot``) and best times, DST included."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pellacia.analytics.best_times import TooLittleData, as_daily_slots, rank
from pellacia.analytics.slots import slot_times
from pellacia.clock import FakeClock
from pellacia.config import Settings
from pellacia.delivery.errors import BadInput
from pellacia.delivery.service import create_post
from pellacia.plugins import load_plugins
from pellacia.store import analytics as store
from pellacia.store.pool import create_pool

NY = "America/New_York"


def test_slots_keep_local_time_across_dst_and_skip_the_gap() -> None:
    start = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)  # DST starts 2026-03-08 in New York
    times = list(slot_times(["02:30", "08:30"], NY, start, 2))
    assert times == [
        datetime(2026, 3, 7, 7, 30, tzinfo=UTC),  # 02:30 EST
        datetime(2026, 3, 7, 13, 30, tzinfo=UTC),  # 08:30 EST
        # 2026-03-08 02:30 does not exist in New York: no slot
        datetime(2026, 3, 8, 12, 30, tzinfo=UTC),  # 08:30 EDT
        datetime(2026, 3, 9, 6, 30, tzinfo=UTC),
        datetime(2026, 3, 9, 12, 30, tzinfo=UTC),
    ]


def _history(hours_utc: list[tuple[datetime, dict[str, float]]]) -> list[dict[str, Any]]:
    return [{"account": "news", "published_at": at, "metrics": m} for at, m in hours_utc]


def test_best_times_rank_hour_of_week_in_the_accounts_zone_across_dst() -> None:
    # Monday 13:00 New York: 18:00 UTC in winter (EST), 17:00 UTC in summer (EDT)
    winter = [datetime(2026, 2, 16 + 7 * i, 18, 0, tzinfo=UTC) for i in range(2)]
    summer = [datetime(2026, 3, 9 + 7 * i, 17, 0, tzinfo=UTC) for i in range(2)]
    good = [(at, {"likes": 50.0, "comments": 10.0}) for at in winter + summer]
    # twenty ordinary posts on Tuesdays at 09:00 New York, both sides of DST
    tuesday = datetime(2026, 1, 6, 9, 0, tzinfo=ZoneInfo(NY))  # wall-clock weeks
    plain = [((tuesday + timedelta(days=7 * i)).astimezone(UTC), {"likes": 5.0}) for i in range(20)]
    # metrics not available: counted nowhere (not as 0)
    unknown = [(datetime(2026, 1, 7, 3, 0, tzinfo=UTC), {"views": 10.0})] * 5
    ranked = rank(_history(good + plain + unknown), {"news": NY})
    assert [(s.label, s.posts, s.mean) for s in ranked] == [
        ("Mon 13:00", 4, 60.0),
        ("Tue 09:00", 20, 5.0),
    ]
    assert as_daily_slots(ranked, 2) == ["09:00", "13:00"]
    with pytest.raises(TooLittleData, match="only 4 posts"):
        rank(_history(good + unknown), {"news": NY})


# ------------------------------------------------------------- next-slot


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[Any]:
    pool = await create_pool(pg_dsn, max_size=4)
    yield pool
    await pool.close()


def slot_settings(tmp_path: Path, slots: list[str]) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=None,
        accounts={"youtube": [{"name": "news", "slots": slots, "timezone": "Europe/Paris"}]},
        spacing={"min_interval": 3 * 3600, "jitter": 0},
    )


async def test_next_slot_lands_on_a_configured_slot_and_respects_spacing(
    pool: Any, video: Path, tmp_path: Path
) -> None:
    settings = slot_settings(tmp_path, ["08:30", "12:15", "18:00"])
    registry = load_plugins({})
    clock = FakeClock(datetime(2026, 3, 28, 10, 0, tzinfo=UTC))  # 11:00 in Paris (CET)

    async def schedule(title: str) -> datetime | None:
        created = await create_post(
            pool,
            registry,
            settings,
            file=video,
            platforms="youtube",
            title=title,
            scheduled_at="next-slot",
            clock=clock,
        )
        return created.scheduled_at

    # 12:15 is taken, 18:00 then; 08:30 the next morning is 14.5 h later
    assert await schedule("one") == datetime(2026, 3, 28, 11, 15, tzinfo=UTC)
    assert await schedule("two") == datetime(2026, 3, 28, 17, 0, tzinfo=UTC)
    # Paris moves to summer time overnight: 08:30 CEST is 06:30 UTC
    assert await schedule("three") == datetime(2026, 3, 29, 6, 30, tzinfo=UTC)
    # 12:15 is closer than three hours to 08:30? no (3 h 45): it is free
    assert await schedule("four") == datetime(2026, 3, 29, 10, 15, tzinfo=UTC)


async def test_next_slot_without_slots_says_how_to_set_them(
    pool: Any, video: Path, tmp_path: Path
) -> None:
    with pytest.raises(BadInput, match=r"no posting slots for youtube/news.*best-times"):
        await create_post(
            pool,
            load_plugins({}),
            slot_settings(tmp_path, []),
            file=video,
            platforms="youtube",
            scheduled_at="next-slot",
        )


# ------------------------------------------------- best-times through the CLI


async def test_best_times_write_feeds_next_slot(
    pool: Any, pg_dsn: str, video: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner
    from pellacia.cli.main import cli

    config = tmp_path / "config.toml"
    config.write_text(
        "[spacing]\nmin_interval = 0\njitter = 0\n\n"
        '[[accounts.youtube]]\nname = "news"\ntimezone = "America/New_York"\n'
    )
    monkeypatch.setenv("PELLACIA_DATABASE_URL", pg_dsn)
    monkeypatch.setenv("PELLACIA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PELLACIA_CONFIG", str(config))
    # 25 posts: Wednesdays 19:00 New York do best, Mondays 07:00 do worse
    start = datetime(2026, 1, 5, 7, 0, tzinfo=ZoneInfo(NY))  # a Monday; wall-clock weeks
    async with pool.acquire() as conn:
        for i in range(25):
            best = i % 2 == 0
            at = start + timedelta(days=7 * (i // 2) + (2 if best else 0), hours=12 if best else 0)
            delivery = await store.insert_published(
                conn,
                platform="youtube",
                account="news",
                remote_id=f"r{i}",
                remote_url=None,
                published_at=at,
                title=f"p{i}",
            )
            metrics = {"likes": 40.0 if best else 4.0}
            await store.store_snapshot(
                conn, delivery, at=at + timedelta(days=1), metrics=metrics, raw={}, next_at=None
            )

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, list(args))

    few = await asyncio.to_thread(
        run, "analytics", "best-times", "-p", "youtube", "--min-posts", "100"
    )
    assert few.exit_code == 1 and "not guessing" in few.output
    out = await asyncio.to_thread(
        run, "analytics", "best-times", "-p", "youtube", "-a", "news", "--write", "1", "--json"
    )
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert result["slots"][0]["slot"] == "Wed 19:00" and result["slots"][0]["posts"] == 13
    assert result["written"] == ["19:00"]
    scheduled = await asyncio.to_thread(
        run,
        "schedule",
        "--platforms",
        "youtube",
        "--file",
        str(video),
        "--at",
        "next-slot",
        "--json",
    )
    assert scheduled.exit_code == 0, scheduled.output
    when = datetime.fromisoformat(json.loads(scheduled.output)["scheduled_at"])
    local = when.astimezone(ZoneInfo(NY))
    assert (local.hour, local.minute) == (19, 0) and when > datetime.now(UTC)
