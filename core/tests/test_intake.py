"""Folder intake: one post per item across restarts, partial writes, a kill between
"seen" and "submitted", bad JSON, a file that is not a video."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pellacia.clock import FakeClock
from pellacia.intake.folder import FolderIntake
from pellacia.plugins import load_plugins
from pellacia.store import posts as post_store
from pellacia.store.pool import create_pool
from pellacia.testing.videos import make_not_video
from pellacia_testplatform.fake import FakeTestPlatform
from pellacia_testplatform.fixtures import settings_for


@pytest.fixture
async def ctx(
    pg_dsn: str, testplatform: FakeTestPlatform, tmp_path: Path
) -> AsyncIterator[dict[str, Any]]:
    pool = await create_pool(pg_dsn, max_size=4)
    folder = tmp_path / "drop"
    folder.mkdir()
    try:
        yield {
            "pool": pool,
            "folder": folder,
            "clock": FakeClock(datetime(2030, 6, 1, 12, 0, tzinfo=UTC)),
            "settings": settings_for(testplatform, tmp_path / "data", intake={"settle_seconds": 5}),
        }
    finally:
        await pool.close()


def _intake(ctx: dict[str, Any]) -> FolderIntake:
    """A new watcher, as after a restart."""
    return FolderIntake(ctx["pool"], load_plugins(), ctx["settings"], ctx["folder"], ctx["clock"])


def _drop(folder: Path, video: Path, name: str = "clip", **meta: Any) -> None:
    shutil.copyfile(video, folder / f"{name}.mp4")
    body = {"platforms": ["testplatform"], "title": "Flood", **meta}
    (folder / f"{name}.json").write_text(json.dumps(body), encoding="utf-8")


def _read(path: Path) -> bytes:
    return path.read_bytes()


async def _posts(ctx: dict[str, Any]) -> int:
    async with ctx["pool"].acquire() as conn:
        return (await post_store.counts(conn))[0]


async def test_an_item_becomes_one_post_also_across_a_restart(
    ctx: dict[str, Any], video: Path
) -> None:
    _drop(ctx["folder"], video, at="2030-06-02 09:00", timezone="Europe/Paris")
    first = await _intake(ctx).scan()
    assert first.submitted == ["clip"] and await _posts(ctx) == 1
    assert sorted(p.name for p in (ctx["folder"] / "accepted").iterdir()) == [
        "clip.json",
        "clip.mp4",
    ]
    assert sorted(p.name for p in ctx["folder"].iterdir()) == ["accepted"]
    # the post names the video where it now lies (else its delivery finds it gone)
    async with ctx["pool"].acquire() as conn:
        path = await conn.fetchval("SELECT video_path FROM posts")
    assert Path(path) == ctx["folder"] / "accepted" / "clip.mp4"
    # the same item dropped again (a producer retrying) after a restart
    _drop(ctx["folder"], video, at="2030-06-02 09:00", timezone="Europe/Paris")
    again = await _intake(ctx).scan()
    assert again.submitted == [] and await _posts(ctx) == 1
    async with ctx["pool"].acquire() as conn:
        row = await conn.fetchrow("SELECT scheduled_at, title FROM posts")
    assert row["scheduled_at"] == datetime(2030, 6, 2, 7, 0, tzinfo=UTC)


async def test_a_kill_between_seen_and_submitted_still_submits_once(
    ctx: dict[str, Any], video: Path
) -> None:
    _drop(ctx["folder"], video)
    intake = _intake(ctx)
    # what a kill right after recording "seen" leaves: the row, no post
    from pellacia.intake.folder import _sha256
    from pellacia.store import intake as ledger

    sha = _sha256(ctx["folder"] / "clip.mp4", ctx["folder"] / "clip.json")
    async with ctx["pool"].acquire() as conn:
        await ledger.seen(conn, str(intake.folder), "clip", sha)
    assert (await _intake(ctx).scan()).submitted == ["clip"]
    assert await _posts(ctx) == 1
    # and a kill after the post committed but before the files moved: no second post
    shutil.move(ctx["folder"] / "accepted" / "clip.mp4", ctx["folder"] / "clip.mp4")
    shutil.move(ctx["folder"] / "accepted" / "clip.json", ctx["folder"] / "clip.json")
    assert (await _intake(ctx).scan()).submitted == []
    assert await _posts(ctx) == 1 and not (ctx["folder"] / "clip.mp4").exists()


async def test_a_video_still_being_written_waits_until_it_settles(
    ctx: dict[str, Any], video: Path
) -> None:
    folder, data = ctx["folder"], _read(video)
    (folder / "clip.json").write_text(json.dumps({"platforms": ["testplatform"]}))
    (folder / "clip.mp4").write_bytes(data[: len(data) // 2])
    stamp = (folder / "clip.json").stat().st_mtime_ns
    os.utime(folder / "clip.mp4", ns=(stamp + 1_000_000, stamp + 1_000_000))  # written after
    intake = _intake(ctx)
    assert (await intake.scan()).waiting == ["clip"]
    ctx["clock"].advance(3)
    with (folder / "clip.mp4").open("ab") as f:
        f.write(data[len(data) // 2 :])
    os.utime(folder / "clip.mp4", ns=(stamp + 2_000_000, stamp + 2_000_000))
    ctx["clock"].advance(3)
    assert (await intake.scan()).waiting == ["clip"]  # it changed: the wait starts over
    ctx["clock"].advance(5)
    assert (await intake.scan()).submitted == ["clip"]
    assert await _posts(ctx) == 1


async def test_bad_json_is_rejected_with_every_problem_and_an_alert(
    ctx: dict[str, Any], video: Path
) -> None:
    folder = ctx["folder"]
    shutil.copyfile(video, folder / "broken.mp4")
    (folder / "broken.json").write_text('{"platforms": ["testplatform"], "title": ')
    _drop(folder, video, name="wrong", priority="urgent", colour="red")
    result = await _intake(ctx).scan()
    assert sorted(result.rejected) == ["broken", "wrong"] and await _posts(ctx) == 0
    rejected = folder / "rejected"
    assert "not valid JSON" in (rejected / "broken.error.txt").read_text()
    wrong = (rejected / "wrong.error.txt").read_text()
    assert "priority" in wrong and "colour" in wrong  # every problem named
    assert {p.name for p in rejected.iterdir()} >= {"broken.mp4", "broken.json", "wrong.mp4"}
    async with ctx["pool"].acquire() as conn:
        alerts = await conn.fetch("SELECT payload FROM events WHERE kind = 'alert'")
    assert len(alerts) == 2


async def test_a_file_that_is_not_a_video_is_rejected(ctx: dict[str, Any]) -> None:
    folder = ctx["folder"]
    make_not_video(folder / "notes.mp4")
    (folder / "notes.json").write_text(json.dumps({"platforms": ["testplatform"]}))
    result = await _intake(ctx).scan()
    assert result.rejected == ["notes"] and await _posts(ctx) == 0
    text = (folder / "rejected" / "notes.error.txt").read_text()
    assert text.startswith("notes was not submitted:\n- ")


def test_watch_once_from_the_cli(
    pg_dsn: str,
    testplatform: FakeTestPlatform,
    video: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner
    from pellacia.cli.main import cli

    folder = tmp_path / "drop"
    folder.mkdir()
    _drop(folder, video)
    monkeypatch.setenv("PELLACIA_DATABASE_URL", pg_dsn)
    monkeypatch.setenv("PELLACIA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PELLACIA_PLUGINS__TESTPLATFORM__BASE_URL", testplatform.base_url)
    run = CliRunner().invoke
    first = run(cli, ["watch", str(folder), "--once", "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["submitted"] == ["clip"]
    missing = run(cli, ["watch", str(tmp_path / "nope"), "--once"])
    assert missing.exit_code == 2 and "is not a folder" in missing.output


def test_the_documented_json_schema_is_the_one_used() -> None:
    import re

    from pellacia.intake.item import ItemMetadata

    doc = (Path(__file__).resolve().parents[2] / "docs" / "intake.md").read_text()
    documented = re.findall(r"```json\n(.*?)```", doc, flags=re.S)[-1]
    assert json.loads(documented) == ItemMetadata.model_json_schema()
