"""The CLI end to end: `pellacia-dist upload|schedule|manual` in a subprocess,
real PostgreSQL, the test platform over HTTP (served by this test process)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from pellacia.store.pool import connect_one
from pellacia.testing.videos import make_not_video, make_video
from pellacia_testplatform.fake import FakeTestPlatform


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("v") / "clip.mp4", seconds=1.0, noise=True)


@pytest.fixture
def config(tmp_path: Path, pg_dsn: str, testplatform: FakeTestPlatform) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
data_dir = "{tmp_path / "data"}"
timezone = "UTC"

[plugins.testplatform]
base_url = "{testplatform.base_url}"
access_token = "tp-token-static"
refresh_token = "tp-refresh"
chunk_size = 65536

[chains]
testplatform = ["api", "manual"]

[spacing]
min_interval = 0
jitter = 0

[retry]
tries_per_layer = 2
base_delay = 0.05
max_delay = 0.1
"""
    )
    return path


async def cli(config: Path, dsn: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "DATABASE_URL": dsn, "PELLACIA_CONFIG": str(config), "NO_COLOR": "1"}
    env.pop("PELLACIA_DATABASE_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from pellacia.cli.main import main; main()",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def count_rows(dsn: str) -> tuple[int, int, int]:
    conn = await connect_one(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM posts) p, (SELECT count(*) FROM deliveries) d, "
            "(SELECT count(*) FROM events) e"
        )
        return int(row["p"]), int(row["d"]), int(row["e"])
    finally:
        await conn.close()


async def test_upload_wait_publishes_and_reports_json(
    config: Path, pg_dsn: str, testplatform: FakeTestPlatform, video: Path
) -> None:
    code, out, err = await cli(
        config,
        pg_dsn,
        "upload",
        "--platform",
        "testplatform",
        "--file",
        str(video),
        "--title",
        "Flood warning",
        "--hashtags",
        "#news #flood",
        "--wait",
        "--json",
    )
    assert code == 0, err
    data = json.loads(out)
    [delivery] = data["deliveries"]
    assert delivery["state"] == "published" and delivery["remote_url"].endswith("/watch/p1")
    assert testplatform.posts_created == 1
    assert testplatform.posts[0].caption == "#news #flood"
    assert (
        testplatform.bytes_received == testplatform.uploads[next(iter(testplatform.uploads))].size
    )
    assert "tp-token-static" not in out + err  # tokens never printed


async def test_upload_wait_exit_1_when_it_lands_in_manual(
    config: Path, pg_dsn: str, testplatform: FakeTestPlatform, video: Path
) -> None:
    testplatform.fail("500", op="init", times=10)
    code, out, err = await cli(
        config,
        pg_dsn,
        "upload",
        "--platform",
        "testplatform",
        "--file",
        str(video),
        "--wait",
        "--json",
    )
    assert code == 1
    [delivery] = json.loads(out)["deliveries"]
    assert delivery["state"] == "manual"
    did = delivery["id"]
    code, out, _ = await cli(config, pg_dsn, "manual", "list", "--json")
    assert code == 0 and [i["delivery_id"] for i in json.loads(out)] == [did]
    export_to = config.parent / "exports"
    code, out, err = await cli(
        config, pg_dsn, "manual", "export", "--id", did[:8], "--zip", "--to", str(export_to)
    )
    assert code == 0, err
    assert Path(out.strip()).suffix == ".zip" and (export_to / did / "metadata.json").is_file()
    code, out, err = await cli(
        config,
        pg_dsn,
        "manual",
        "resolve",
        "--id",
        did,
        "--post-url",
        "https://www.youtube.com/watch?v=abc123XYZ",
    )
    assert code == 0, err and "abc123XYZ" in out
    conn = await connect_one(pg_dsn)
    try:
        row = await conn.fetchrow(
            "SELECT state, remote_id FROM deliveries WHERE id = $1::uuid", did
        )
    finally:
        await conn.close()
    assert (row["state"], row["remote_id"]) == ("published", "abc123XYZ")
    code, _, err = await cli(
        config, pg_dsn, "manual", "resolve", "--id", did, "--post-url", "https://x.com/a/status/1"
    )
    assert code == 2 and "only manual" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--file", "missing.mp4"], "no such file"),
        (["--file", "{text}"], "not a readable video"),
        (["--platforms", "nosuch"], "unknown platform nosuch (installed:"),
        (["--timezone", "Mars/Olympus"], "unknown time zone"),
        (["--at", "2020-01-01 10:00"], "is in the past"),
        (["--at", "2026-03-08 02:30", "--timezone", "America/New_York"], "does not exist"),
        (["--at", "2026-11-01 01:30", "--timezone", "America/New_York"], "happens twice"),
        (["--at", "tomorrow"], "cannot read the time"),
    ],
)
async def test_bad_input_exit_2_nothing_written(
    config: Path, pg_dsn: str, video: Path, args: list[str], message: str
) -> None:
    text = make_not_video(config.parent / "notes.mp4")
    args = [a.replace("{text}", str(text)) for a in args]
    base = {"--platforms": "testplatform", "--file": str(video), "--at": "2099-01-01 10:00"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = ["schedule"] + [x for kv in base.items() for x in kv]
    before = await count_rows(pg_dsn)
    code, _, err = await cli(config, pg_dsn, *argv)
    assert code == 2, err
    assert message in err
    assert await count_rows(pg_dsn) == before


async def test_schedule_list_and_cancel(config: Path, pg_dsn: str, video: Path) -> None:
    code, out, err = await cli(
        config,
        pg_dsn,
        "schedule",
        "--platforms",
        "testplatform",
        "--file",
        str(video),
        "--at",
        "2099-12-27 14:00",
        "--timezone",
        "America/New_York",
        "--json",
    )
    assert code == 0, err
    created: dict[str, Any] = json.loads(out)
    assert created["scheduled_at"] == "2099-12-27T19:00:00+00:00"  # EST = UTC-5
    # same file and title again: refused as a duplicate
    code, _, err = await cli(
        config,
        pg_dsn,
        "schedule",
        "--platforms",
        "testplatform",
        "--file",
        str(video),
        "--at",
        "2099-12-28 14:00",
    )
    assert code == 2 and "--allow-duplicate" in err
    code, out, _ = await cli(config, pg_dsn, "schedule", "list", "--json")
    rows = json.loads(out)
    assert [r["state"] for r in rows] == ["pending"]
    code, out, err = await cli(config, pg_dsn, "schedule", "cancel", "--id", created["post_id"][:8])
    assert code == 0 and "cancelled" in out, err
    code, out, _ = await cli(config, pg_dsn, "schedule", "list", "--json")
    assert json.loads(out) == []


async def test_test_post_goes_to_the_sandbox(
    tmp_path: Path, pg_dsn: str, testplatform: FakeTestPlatform, video: Path
) -> None:
    config = tmp_path / "sandbox.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n\n[plugins.testplatform]\n'
        'access_token = "tp-token-static"\n\n[chains]\ntestplatform = ["api", "manual"]\n'
    )
    code, _, err = await cli(
        config, pg_dsn, "upload", "--platform", "testplatform", "--file", str(video), "--test"
    )
    assert code == 2 and "--test needs a sandbox" in err
    code, _out, err = await cli(
        config,
        pg_dsn,
        "--sandbox",
        testplatform.url,
        "upload",
        "--platform",
        "testplatform",
        "--file",
        str(video),
        "--test",
        "--wait",
    )
    assert code == 0, err
    assert testplatform.posts_created == 1 and "published" in err
