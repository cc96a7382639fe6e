"""Intake: validation before anything is written, one transaction, duplicates, cancel,
DST-correct scheduling, alerts isolation, manual packages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pellacia.alerts import AlertDispatcher
from pellacia.clock import FakeClock
from pellacia.contract import Alert
from pellacia.delivery.errors import BadInput
from pellacia.delivery.manual import remote_id_from_url
from pellacia.delivery.service import cancel_post, create_post, parse_hashtags
from pellacia.delivery.timeparse import describe, parse_local
from pellacia.plugins import load_plugins
from pellacia.store import posts as post_store
from pellacia.store.pool import create_pool
from pellacia_testplatform.fake import FakeTestPlatform
from pellacia_testplatform.fixtures import settings_for

# ----------------------------------------------------------------- time zones


def test_new_york_winter_and_summer_offsets() -> None:
    assert parse_local("2026-12-27 14:00", "America/New_York") == datetime(
        2026, 12, 27, 19, 0, tzinfo=UTC
    )
    assert parse_local("2026-07-04 14:00:30", "America/New_York") == datetime(
        2026, 7, 4, 18, 0, 30, tzinfo=UTC
    )
    assert describe(datetime(2026, 12, 27, 19, 0, tzinfo=UTC), "America/New_York") == (
        "2026-12-27 14:00 EST (-05:00)"
    )


def test_spring_forward_gap_is_an_error() -> None:
    with pytest.raises(BadInput, match=r"does not exist in America/New_York.*-05:00 → -04:00"):
        parse_local("2026-03-08 02:30", "America/New_York")


def test_fall_back_ambiguity_needs_fold_or_offset() -> None:
    with pytest.raises(BadInput, match=r"happens twice.*--fold 0.*-04:00.*--fold 1.*-05:00"):
        parse_local("2026-11-01 01:30", "America/New_York")
    first = parse_local("2026-11-01 01:30", "America/New_York", fold=0)
    second = parse_local("2026-11-01 01:30", "America/New_York", fold=1)
    assert first == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert second == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert parse_local("2026-11-01T01:30-05:00", "America/New_York") == second


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd", "EST5EDT/x"])
def test_bad_zone_is_refused(zone: str) -> None:
    with pytest.raises(BadInput, match="unknown time zone"):
        parse_local("2026-12-27 14:00", zone)


def test_hashtags_are_normalised() -> None:
    assert parse_hashtags("#news world, #news  #flood") == ["#news", "#world", "#flood"]


def test_post_urls_give_platform_ids() -> None:
    assert remote_id_from_url("https://www.youtube.com/watch?v=dQw4w9WgXcQ") == "dQw4w9WgXcQ"
    assert remote_id_from_url("https://www.tiktok.com/@news/video/7312345678901234567") == (
        "7312345678901234567"
    )
    assert remote_id_from_url("https://x.com/news/status/1790000000000000000") == (
        "1790000000000000000"
    )
    assert remote_id_from_url("https://www.instagram.com/reel/C8abcDEF/") == "C8abcDEF"


# ------------------------------------------------------------------ intake


@pytest.fixture
async def ctx(
    pg_dsn: str, testplatform: FakeTestPlatform, tmp_path: Path
) -> AsyncIterator[dict[str, Any]]:
    pool = await create_pool(pg_dsn, max_size=4)
    try:
        yield {
            "pool": pool,
            "registry": load_plugins(),
            "settings": settings_for(testplatform, tmp_path / "data"),
            "clock": FakeClock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC)),
        }
    finally:
        await pool.close()


async def _create(ctx: dict[str, Any], video: Path, **kw: Any) -> Any:
    kw.setdefault("platforms", "testplatform")
    return await create_post(
        ctx["pool"], ctx["registry"], ctx["settings"], file=video, clock=ctx["clock"], **kw
    )


async def _counts(ctx: dict[str, Any]) -> tuple[int, int]:
    async with ctx["pool"].acquire() as conn:
        return await post_store.counts(conn)


async def test_one_platform_refusing_refuses_the_whole_post(
    ctx: dict[str, Any], video: Path
) -> None:
    with pytest.raises(BadInput) as err:
        await _create(ctx, video, platforms="testplatform,youtube,tiktok,instagram")
    text = str(err.value)
    assert "TikTok: smallest side 240 px" in text and "Instagram: duration 1.0s" in text
    assert "nothing was scheduled" in text
    assert await _counts(ctx) == (0, 0)


async def test_post_and_deliveries_are_written_together(ctx: dict[str, Any], video: Path) -> None:
    created = await _create(
        ctx,
        video,
        platforms="testplatform,youtube",
        title="Flood",
        scheduled_at="2026-12-27 14:00",
        timezone="America/New_York",
    )
    assert created.scheduled_at == datetime(2026, 12, 27, 19, 0, tzinfo=UTC)
    assert [d.platform for d in created.deliveries] == ["testplatform", "youtube"]
    assert len({d.idempotency_key for d in created.deliveries}) == 2
    assert await _counts(ctx) == (1, 2)
    async with ctx["pool"].acquire() as conn:
        row = await conn.fetchrow(
            "SELECT due_at, wait_reason FROM deliveries WHERE platform = 'youtube'"
        )
    assert row["due_at"] == created.scheduled_at and row["wait_reason"] == "scheduled"


async def test_duplicates_refused_unless_allowed(ctx: dict[str, Any], video: Path) -> None:
    await _create(ctx, video, title="Same")
    with pytest.raises(BadInput, match="--allow-duplicate"):
        await _create(ctx, video, title="Same")
    await _create(ctx, video, title="Other title")
    await _create(ctx, video, title="Same", allow_duplicate=True)
    assert await _counts(ctx) == (3, 3)


async def test_two_racing_identical_submissions_make_one_post(
    ctx: dict[str, Any], video: Path
) -> None:
    results = await asyncio.gather(
        _create(ctx, video, title="Race"), _create(ctx, video, title="Race"), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["BadInput", "CreatedPost"]
    assert await _counts(ctx) == (1, 1)


async def test_past_time_refused_unless_allowed(ctx: dict[str, Any], video: Path) -> None:
    with pytest.raises(BadInput, match="in the past"):
        await _create(ctx, video, scheduled_at="2026-06-01 07:00", timezone="America/New_York")
    created = await _create(
        ctx, video, scheduled_at="2026-06-01 07:00", timezone="America/New_York", allow_past=True
    )
    assert created.scheduled_at == datetime(2026, 6, 1, 11, 0, tzinfo=UTC)


async def test_cancel_post_cancels_pending_deliveries(ctx: dict[str, Any], video: Path) -> None:
    created = await _create(ctx, video, platforms="testplatform,youtube")
    results = await cancel_post(ctx["pool"], created.id)
    assert {r.outcome for r in results} == {"cancelled"}
    again = await cancel_post(ctx["pool"], created.id)
    assert {r.outcome for r in again} == {"cancelled"}  # already cancelled: reported as such
    async with ctx["pool"].acquire() as conn:
        states = await conn.fetch("SELECT DISTINCT state FROM deliveries")
    assert [r["state"] for r in states] == ["cancelled"]


# ------------------------------------------------------------------ alerts


class _Sink:
    def __init__(self, name: str, behaviour: str) -> None:
        self.name = name
        self.behaviour = behaviour
        self.got: list[Alert] = []

    async def send(self, alert: Alert) -> None:
        if self.behaviour == "raise":
            raise RuntimeError("sink down")
        if self.behaviour == "hang":
            await asyncio.Event().wait()
        self.got.append(alert)


async def test_a_failing_or_hanging_sink_never_stops_the_others() -> None:
    bad, slow, good = _Sink("bad", "raise"), _Sink("slow", "hang"), _Sink("good", "ok")
    dispatcher = AlertDispatcher([bad, slow, good], "warning", timeout=0.2)
    result = await dispatcher.send(Alert(level="critical", title="x"))
    assert result["good"] is None and "sink down" in (result["bad"] or "")
    assert result["slow"] == "TimeoutError"
    assert len(good.got) == 1
    assert await dispatcher.send(Alert(level="info", title="below the minimum")) == {}
    assert len(good.got) == 1


def test_manual_package_json_is_complete(tmp_path: Path, video: Path) -> None:
    from pellacia.delivery.manual import write_package

    folder = write_package(
        tmp_path / "pkg",
        delivery={"id": "d1", "platform": "tiktok", "account": "main", "idempotency_key": "k"},
        post={
            "id": "p1",
            "video_path": str(video),
            "title": "Flood",
            "description": "Rivers rise",
            "hashtags": ["#news"],
            "overrides": {"tiktok": {"privacy_level": "SELF_ONLY"}},
            "priority": "normal",
            "scheduled_at": None,
            "timezone": "UTC",
            "video_sha256": "ab",
            "video_size": 10,
        },
        attempts=[{"attempt": 1, "error": "boom"}],
        reason="every automatic layer failed",
        outcome_unknown=False,
    )
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["options"] == {"privacy_level": "SELF_ONLY"} and meta["hashtags"] == ["#news"]
    text = (folder / "INSTRUCTIONS.md").read_text()
    assert "tiktok.com/tiktokstudio/upload" in text and "SELF_ONLY" in text
    assert "Rivers rise\n\n#news" in text and "OUTCOME UNKNOWN" not in text
    assert (folder / "video.mp4").stat().st_size == video.stat().st_size


@pytest.mark.parametrize(
    ("platform", "options", "plugin_settings", "privacy"),
    [
        ("youtube", {}, {}, "private"),  # what the YouTube plugin uploads without an option
        ("youtube", {}, {"privacy_status": "unlisted"}, "unlisted"),
        ("youtube", {"privacy": "public"}, {"privacy_status": "unlisted"}, "public"),
        ("tiktok", {}, {}, "PUBLIC_TO_EVERYONE if the account allows it, else SELF_ONLY"),
        ("tiktok", {"privacy_level": "SELF_ONLY"}, {}, "SELF_ONLY"),
    ],
)
def test_manual_package_states_the_privacy_the_platform_would_get(
    tmp_path: Path,
    video: Path,
    platform: str,
    options: dict[str, Any],
    plugin_settings: dict[str, Any],
    privacy: str,
) -> None:
    """Issue 17, defect 6: not `public (default)` where the plugin uploads private."""
    from pellacia.delivery.manual import write_package

    folder = write_package(
        tmp_path / "pkg",
        delivery={"id": "d1", "platform": platform, "account": "main", "idempotency_key": "k"},
        post={
            "id": "p1",
            "video_path": str(video),
            "title": "Flood",
            "description": "",
            "hashtags": [],
            "overrides": {platform: options},
            "priority": "normal",
            "video_sha256": "ab",
            "video_size": 10,
        },
        attempts=[],
        reason="every automatic layer failed",
        outcome_unknown=False,
        plugin_settings=plugin_settings,
    )
    assert f"- Privacy: {privacy}\n" in (folder / "INSTRUCTIONS.md").read_text()
