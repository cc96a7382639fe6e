"""The analytics collector against the sandbox's YouTube fake, real PostgreSQL, FakeClock."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pellacia.analytics.collector import Collector, next_due
from pellacia.analytics.settings import PlatformAnalytics, cadence
from pellacia.clock import FakeClock
from pellacia.config import Settings
from pellacia.contract import TokenSet
from pellacia.plugins import load_plugins
from pellacia.store.pool import create_pool
from pellacia.testing.sandbox import SandboxHandle
from pellacia.vault import open_vault

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HOUR = 3600.0


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[Any]:
    pool = await create_pool(pg_dsn, max_size=8)
    yield pool
    await pool.close()


@pytest.fixture
async def youtube(sandbox: SandboxHandle) -> AsyncIterator[Any]:
    """The YouTube fake, reset, without faults."""
    sandbox.require("youtube")
    await sandbox.control.reset()
    yield sandbox.host.fake("youtube")
    await sandbox.control.clear_faults()


def make_settings(sandbox: SandboxHandle, data_dir: Path, **analytics: Any) -> Settings:
    return Settings(
        data_dir=data_dir, sandbox_url=sandbox.base_url, database_url=None, analytics=analytics
    )


async def sign_in(pool: Any, fake: Any, settings: Settings, account: str = "default") -> None:
    body = fake.issue_token(account=account)
    tokens = TokenSet(
        access_token=body["access_token"],
        refresh_token=body.get("refresh_token"),
        expires_at=T0 + timedelta(days=3650),  # FakeClock jumps days: no refresh on the way
    )
    async with pool.acquire() as conn:
        await open_vault(settings.data_dir, None).put(conn, "youtube", account, tokens)


async def publish(
    pool: Any, fake: Any, n: int, *, at: datetime = T0, account: str = "default"
) -> list[str]:
    """``n`` videos on the fake and their published deliveries; the video ids."""
    ids = []
    async with pool.acquire() as conn:
        for i in range(n):
            vid = f"v{uuid.uuid4().hex[:11]}"
            fake.videos[vid] = {
                "id": vid,
                "etag": "e",
                "statistics": {"viewCount": str(100 + i), "likeCount": "3", "commentCount": "1"},
            }
            post_id = uuid.uuid4()
            await conn.execute(
                "INSERT INTO posts (id, video_path, video_sha256, video_size, media, title)"
                " VALUES ($1, '/dev/null', $2, 1, '{}'::jsonb, $3)",
                post_id,
                "0" * 64,
                f"post {i}",
            )
            await conn.execute(
                "INSERT INTO deliveries (id, post_id, platform, account, state, due_at,"
                " idempotency_key, remote_id, published_at)"
                " VALUES ($1, $2, 'youtube', $3, 'published', $4, $5, $6, $4)",
                uuid.uuid4(),
                post_id,
                account,
                at,
                f"{post_id}:youtube",
                vid,
            )
            ids.append(vid)
    return ids


def list_calls(fake: Any) -> list[list[str]]:
    """The ids of every ``videos.list`` request the fake saw."""
    out = []
    for entry in fake.requests:
        if entry["path"] == "/youtube/v3/videos" and entry["method"] == "GET":
            query = dict(p.split("=", 1) for p in entry["query"].split("&") if "=" in p)
            out.append(query.get("id", "").split(","))
    return out


async def rows(pool: Any, sql: str) -> list[Any]:
    async with pool.acquire() as conn:
        return list(await conn.fetch(sql))


async def count(pool: Any, sql: str, at_least: int) -> bool:
    async with pool.acquire() as conn:
        return bool(await conn.fetchval(sql) >= at_least)


async def _true(value: bool) -> bool:
    return value


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait (real time, 10 s at most) until ``check`` holds."""
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in 10 s")


async def collector(pool: Any, settings: Settings, clock: FakeClock) -> Collector:
    return Collector(pool, settings, load_plugins(settings.plugins), clock)


def test_cadence_tiers() -> None:
    tiers = cadence(PlatformAnalytics())
    assert next_due(T0, T0 + timedelta(hours=47), tiers) == T0 + timedelta(hours=48)
    assert next_due(T0, T0 + timedelta(days=3), tiers) == T0 + timedelta(days=4)
    assert next_due(T0, T0 + timedelta(days=31), tiers) == T0 + timedelta(days=38)
    assert next_due(T0, T0 + timedelta(days=90), tiers) is None
    short = cadence(PlatformAnalytics(hourly_hours=6))
    assert next_due(T0, T0 + timedelta(hours=7), short) == T0 + timedelta(hours=31)


async def test_cadence_over_simulated_days_one_snapshot_per_day(
    pool: Any, youtube: Any, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    settings = make_settings(sandbox, tmp_path)
    clock = FakeClock(T0)
    await sign_in(pool, youtube, settings)
    [vid] = await publish(pool, youtube, 1)
    c = await collector(pool, settings, clock)
    # every 30 simulated minutes for 4 days: hourly for 48 h, then daily
    for _ in range(4 * 24 * 2):
        await c.run_once()
        clock.advance(1800)
    fetched = len(list_calls(youtube))
    assert fetched == 48 + 2  # hourly for two days, then once a day
    days = await rows(pool, "SELECT day, metrics FROM post_analytics ORDER BY day")
    assert [r["day"] for r in days] == [(T0 + timedelta(days=d)).date() for d in range(4)]
    assert days[0]["metrics"] == {"views": 100.0, "likes": 3.0, "comments": 1.0}
    # past 90 days: one last snapshot, then never again
    clock.advance(90 * 86400)
    await c.run_once()
    clock.advance(30 * 86400)
    await c.run_once()
    assert len(list_calls(youtube)) == fetched + 1
    [plan] = await rows(pool, "SELECT next_at FROM analytics_tracking")
    assert plan["next_at"] is None and vid


async def test_batches_of_fifty_and_not_available_is_absent(
    pool: Any, youtube: Any, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    settings = make_settings(sandbox, tmp_path)
    await sign_in(pool, youtube, settings)
    ids = await publish(pool, youtube, 120)
    del youtube.videos[ids[0]]["statistics"]["likeCount"]  # likes hidden on this one
    report = await (await collector(pool, settings, FakeClock(T0))).run_once()
    assert sorted(len(c) for c in list_calls(youtube)) == [20, 50, 50]
    assert report.calls["youtube"] == 3 and report.snapshots["youtube"] == 120
    stored = await rows(
        pool,
        "SELECT d.remote_id, a.metrics FROM post_analytics a"
        " JOIN deliveries d ON d.id = a.delivery_id",
    )
    metrics = {r["remote_id"]: r["metrics"] for r in stored}
    assert "likes" not in metrics[ids[0]]
    assert metrics[ids[1]]["likes"] == 3.0


async def test_removed_post_is_marked_and_not_fetched_again(
    pool: Any, youtube: Any, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    settings = make_settings(sandbox, tmp_path)
    clock = FakeClock(T0)
    await sign_in(pool, youtube, settings)
    gone, kept = await publish(pool, youtube, 2)
    c = await collector(pool, settings, clock)
    await c.run_once()
    del youtube.videos[gone]
    for _ in range(4):
        clock.advance(HOUR)
        await c.run_once()
    asked = list_calls(youtube)
    assert [gone in ids for ids in asked] == [True, True, True, False, False]
    assert all(kept in ids for ids in asked)
    [row] = await rows(
        pool,
        "SELECT t.removed_at FROM analytics_tracking t JOIN deliveries d ON d.id = t.delivery_id"
        f" WHERE d.remote_id = '{gone}'",
    )
    assert row["removed_at"] == T0 + timedelta(hours=2)


async def test_budget_never_exceeded_and_resumes_next_window(
    pool: Any, youtube: Any, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    settings = make_settings(sandbox, tmp_path, platforms={"youtube": {"limit": 2}})
    clock = FakeClock(T0)
    await sign_in(pool, youtube, settings)
    await publish(pool, youtube, 120)
    c = await collector(pool, settings, clock)
    report = await c.run_once()
    assert report.calls["youtube"] == 2 and report.snapshots["youtube"] == 100
    assert report.waiting["youtube"] > clock.now()
    assert report.rate_limited["youtube"] == 0
    clock.advance(10 * 60)
    assert (await c.run_once()).calls["youtube"] == 0  # nothing left today
    assert len(list_calls(youtube)) == 2
    clock.advance(24 * HOUR)  # past midnight in Los Angeles
    report = await c.run_once()
    assert report.calls["youtube"] == 2 and report.snapshots["youtube"] == 100
    # the 20 left yesterday went first
    covered = await rows(pool, "SELECT DISTINCT delivery_id FROM post_analytics")
    assert len(covered) == 120
    statuses = {e["status"] for e in youtube.requests}
    assert statuses == {200}


async def test_publishing_keeps_headroom_in_youtube_units(
    pool: Any, youtube: Any, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    """Analytics stops three uploads (3 x 1600 units) short of the 10,000-unit day."""
    from pellacia.analytics.budgets import budget_for

    registry = load_plugins({})
    budget = budget_for(registry.platforms["youtube"], PlatformAnalytics()).budget
    assert budget.name == "youtube:daily-units" and budget.limit == 10_000 - 3 * 1600
    assert budget.reset_timezone == "America/Los_Angeles"


async def test_rate_limit_pauses_collection_until_the_reset(
    pool: Any, youtube: Any, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    settings = make_settings(sandbox, tmp_path)
    settings.plugins["youtube"] = {"rate_limit_wait": 1800}
    clock = FakeClock(T0)
    await sign_in(pool, youtube, settings)
    await publish(pool, youtube, 3)
    await sandbox.control.add_fault("youtube", "rate_limit", path="/youtube/v3/videos")
    c = await collector(pool, settings, clock)
    report = await c.run_once()
    assert report.rate_limited["youtube"] == 1
    assert report.waiting["youtube"] == T0 + timedelta(seconds=1800)
    for _ in range(2):  # before the reset: not one request
        clock.advance(600)
        await c.run_once()
    assert len(list_calls(youtube)) == 1
    clock.advance(700)
    assert (await c.run_once()).snapshots["youtube"] == 3


async def test_resume_after_a_kill_refetches_nothing_stored(
    pool: Any, youtube: Any, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    settings = make_settings(sandbox, tmp_path)
    clock = FakeClock(T0)
    await sign_in(pool, youtube, settings)
    await publish(pool, youtube, 120)
    # the second batch hangs: the run is killed while it waits
    await sandbox.control.add_fault(
        "youtube", "delay", path="/youtube/v3/videos", skip=1, seconds=3
    )
    c = await collector(pool, settings, clock)
    run = asyncio.create_task(c.run_once())
    await until(lambda: count(pool, "SELECT count(*) FROM post_analytics", 50))
    await until(lambda: _true(len(list_calls(youtube)) >= 2))
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    await sandbox.control.clear_faults()
    first = set(list_calls(youtube)[0])
    report = await (await collector(pool, settings, clock)).run_once()
    assert report.snapshots["youtube"] == 70
    resumed = {i for ids in list_calls(youtube)[2:] for i in ids}
    assert len(resumed) == 70 and not resumed & first
    # the hung answer goes out late: let it finish before the next test
    await until(lambda: _true(all(e["status"] is not None for e in youtube.requests)))


async def test_two_workers_collect_once(
    pool: Any, youtube: Any, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    settings = make_settings(sandbox, tmp_path)
    clock = FakeClock(T0)
    await sign_in(pool, youtube, settings)
    await publish(pool, youtube, 60)
    collectors = [await collector(pool, settings, clock) for _ in range(2)]
    reports = await asyncio.gather(*(c.run_once() for c in collectors))
    assert sum(r.snapshots["youtube"] for r in reports) == 60
    assert sum(r.calls["youtube"] for r in reports) == 2
    assert len(list_calls(youtube)) == 2


# -------------------------------------------------------------------- the CLI


@pytest.fixture
def cli_env(
    pg_dsn: str, sandbox: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv("PELLACIA_DATABASE_URL", pg_dsn)
    monkeypatch.setenv("PELLACIA_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("PELLACIA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PELLACIA_SANDBOX_URL", sandbox.base_url)
    return make_settings(sandbox, tmp_path)


async def invoke(*args: str) -> Any:
    """The CLI in a thread (it runs its own event loop)."""
    from click.testing import CliRunner
    from pellacia.cli.main import cli

    return await asyncio.to_thread(CliRunner().invoke, cli, list(args))


async def test_cli_collect_summary_fetch_export(pool: Any, youtube: Any, cli_env: Settings) -> None:
    import csv
    import io
    import json

    now = datetime.now(UTC)
    await sign_in(pool, youtube, cli_env)
    ids = await publish(pool, youtube, 3, at=now - timedelta(hours=2))
    del youtube.videos[ids[0]]["statistics"]["likeCount"]

    done = await invoke("analytics", "collect-daily", "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.output[done.output.index("{") :])
    assert report["calls"] == {"youtube": 1} and report["snapshots"] == {"youtube": 3}
    assert report["rate_limited"] == {}

    shown = await invoke(
        "analytics", "summary", "--platform", "youtube", "--start-date", f"{now:%Y-%m-%d}", "--json"
    )
    assert shown.exit_code == 0, shown.output
    summary = json.loads(shown.output)
    assert summary["totals"]["views"] == 100 + 101 + 102
    assert summary["totals"]["likes"] == 6  # the hidden one adds nothing
    assert [p["remote_id"] for p in summary["posts"]] == ids[::-1]  # by views
    assert summary["series"][-1]["views"] == 303
    drawn = await invoke(
        "analytics", "summary", "--platform", "youtube", "--start-date", f"{now:%Y-%m-%d}"
    )
    assert "█" in drawn.output and "Posts (by views)" in drawn.output

    async with pool.acquire() as conn:
        post_id = await conn.fetchval("SELECT post_id FROM deliveries WHERE remote_id = $1", ids[1])
    one = await invoke(
        "analytics", "fetch", "--post-id", str(post_id), "--platform", "youtube", "--json"
    )
    assert one.exit_code == 0, one.output
    fetched = json.loads(one.output[one.output.index("{") :])
    assert [s["remote_id"] for s in fetched["snapshots"]] == [ids[1]]
    week = await invoke("analytics", "fetch", "--platform", "youtube", "--days", "7")
    assert week.exit_code == 0, week.output
    assert len(list_calls(youtube)) == 3

    exported = await invoke("analytics", "export", "--csv")
    table = list(csv.DictReader(io.StringIO(exported.output)))
    likes = {r["remote_id"]: r["likes"] for r in table}
    assert likes == {ids[0]: "", ids[1]: "3.0", ids[2]: "3.0"}
    as_json = json.loads((await invoke("analytics", "export", "--json")).output)
    assert {r["remote_id"] for r in as_json} == set(ids)


async def test_cli_unknown_platform_or_post_exits_2_with_the_choices(
    pool: Any, youtube: Any, cli_env: Settings
) -> None:
    await publish(pool, youtube, 1)
    async with pool.acquire() as conn:
        post_id = await conn.fetchval("SELECT post_id FROM deliveries")
    wrong = await invoke("analytics", "fetch", "--platform", "myspace", "--days", "7")
    assert wrong.exit_code == 2
    assert "valid platforms:" in wrong.output and "youtube" in wrong.output
    missing = await invoke(
        "analytics", "fetch", "--post-id", str(uuid.uuid4()), "--platform", "youtube"
    )
    assert missing.exit_code == 2
    assert f"valid post ids: {post_id}" in missing.output
    bad = await invoke(
        "analytics", "summary", "--platform", "myspace", "--start-date", "2026-01-01"
    )
    assert bad.exit_code == 2 and "youtube" in bad.output


# ------------------------------------------------------ every platform's fake


ALL = ("youtube", "tiktok", "twitter", "instagram", "facebook", "linkedin")


async def test_every_platform_batched_within_budget_zero_429(
    pool: Any, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    from pellacia.testing.analytics import plugin_settings, publish_on_fakes

    for name in ALL:
        sandbox.require(name)
    await sandbox.control.reset()
    settings = Settings(
        data_dir=tmp_path,
        sandbox_url=sandbox.base_url,
        database_url=None,
        plugins=plugin_settings(ALL),
    )
    registry = load_plugins(settings.plugins)
    now = datetime.now(UTC)
    posts = await publish_on_fakes(
        pool, settings, registry, ALL, per_platform=3, published_at=now - timedelta(hours=1)
    )
    for name in ALL:
        sandbox.host.fake(name).clear_requests()
    report = await Collector(pool, settings, registry, FakeClock(now)).run_once()
    assert report.errors == {}
    assert dict(report.snapshots) == {name: 3 for name in ALL}
    # the fewest calls: one batch each; Graph counts each operation, LinkedIn asks
    # each post's video views
    assert dict(report.calls) == {
        "youtube": 1,
        "tiktok": 1,
        "twitter": 1,
        "instagram": 3 + 1,  # + the account snapshot
        "facebook": 3 + 1,
        "linkedin": 1 + 3,
    }
    assert dict(report.accounts) == {"instagram": 1, "facebook": 1}
    assert not report.rate_limited
    for name in ALL:
        statuses = {e["status"] for e in sandbox.host.fake(name).requests}
        assert statuses <= {200, 201}, (name, statuses)
    stored = await rows(pool, "SELECT metrics FROM post_analytics")
    assert len(stored) == len(posts) and all("views" in r["metrics"] for r in stored)
    accounts = await rows(pool, "SELECT platform, metrics FROM account_analytics ORDER BY 1")
    assert [r["platform"] for r in accounts] == ["facebook", "instagram"]
    assert all("followers" in r["metrics"] for r in accounts)


async def test_days_of_simulated_time_give_every_post_a_daily_series(
    pool: Any, youtube: Any, cli_env: Settings
) -> None:
    import json

    clock = FakeClock(T0)
    await sign_in(pool, youtube, cli_env)
    ids = await publish(pool, youtube, 3)
    c = await collector(pool, cli_env, clock)
    for hour in range(72):
        for n, vid in enumerate(ids):  # the views grow every hour
            youtube.set_statistics(vid, viewCount=100 * n + hour)
        await c.run_once()
        clock.advance(HOUR)
    end = (T0 + timedelta(days=2)).date()
    args = (
        "analytics",
        "summary",
        "-p",
        "youtube",
        "--start-date",
        f"{T0:%Y-%m-%d}",
        "--end-date",
        f"{end:%Y-%m-%d}",
    )
    shown = await invoke(*args, "--json")
    assert shown.exit_code == 0, shown.output
    summary = json.loads(shown.output)
    for post in summary["posts"]:
        assert [d["day"] for d in post["daily"]] == [
            (T0 + timedelta(days=d)).date().isoformat() for d in range(3)
        ]
    # the last snapshot of each day wins: 23:00 on days 0 and 1; on day 2 the post is
    # 48 h old at 12:00, fetched then, and next a day later
    first = next(p for p in summary["posts"] if p["remote_id"] == ids[0])
    assert [d["views"] for d in first["daily"]] == [11.0, 35.0, 48.0]
    assert [s["views"] for s in summary["series"]] == [333.0, 405.0, 444.0]
    drawn = await invoke(*args)
    assert "views by day" in drawn.output and "▁▆█" in drawn.output


async def test_collect_daily_killed_midway_resumes_and_frees_the_leader_lock(
    pool: Any, youtube: Any, sandbox: SandboxHandle, cli_env: Settings, pg_dsn: str
) -> None:
    """SIGKILL of `analytics collect-daily` between two batches: the stored batch
    is not fetched again, and the next run leads (the lock died with the session)."""
    import os
    import signal
    import sys

    await sign_in(pool, youtube, cli_env)
    await publish(pool, youtube, 100, at=datetime.now(UTC) - timedelta(hours=1))
    await sandbox.control.add_fault(
        "youtube", "delay", path="/youtube/v3/videos", skip=1, seconds=3
    )
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "pellacia-dist"),
        "analytics",
        "collect-daily",
        env=dict(os.environ),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await until(lambda: count(pool, "SELECT count(*) FROM post_analytics", 50))
        await until(lambda: _true(len(list_calls(youtube)) >= 2))
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    await sandbox.control.clear_faults()
    # the killed session's end frees the leader lock (PostgreSQL notices at once)
    free = "SELECT (count(*) = 0)::int FROM pg_locks WHERE locktype = 'advisory'"
    await until(lambda: count(pool, free, 1))
    first = set(list_calls(youtube)[0])
    report = await (await collector(pool, cli_env, FakeClock(datetime.now(UTC)))).run_once()
    assert report.leader and report.snapshots["youtube"] == 50
    resumed = {i for ids in list_calls(youtube)[2:] for i in ids}
    assert len(resumed) == 50 and not resumed & first
    await until(lambda: _true(all(e["status"] is not None for e in youtube.requests)))
