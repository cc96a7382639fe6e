"""Paths outside the allowed places are refused: a post's server-side video
(``[api] allowed_roots``: relative, ``..``, absolute elsewhere, links leading
out, a sibling folder sharing the root's prefix), an intake item whose files
are links leading out of the watched folder, and links planted where the
intake folder or a manual package writes (never written through)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pellacia.clock import FakeClock
from pellacia.delivery.errors import BadInput
from pellacia.delivery.manual import write_package, zip_package
from pellacia.intake.folder import FolderIntake
from pellacia.plugins import load_plugins
from pellacia.store.pool import create_pool
from pellacia.testing.api import LiveApi, api_settings, live_api
from pellacia.testing.videos import make_video
from pellacia_testplatform.fake import FakeTestPlatform
from pellacia_testplatform.fixtures import settings_for

VICTIM_TEXT = "a file of this machine that no one may overwrite\n"


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("v") / "clip.mp4", seconds=1.0)


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere" / "victim.txt"
    path.parent.mkdir()
    path.write_text(VICTIM_TEXT)
    return path


# ------------------------------------------------------------------------ API


@pytest.fixture
def live(pg_dsn: str, testplatform: FakeTestPlatform, tmp_path: Path) -> Iterator[LiveApi]:
    with live_api(api_settings(testplatform, tmp_path, pg_dsn)) as api:
        yield api


def test_api_video_paths_outside_the_roots_are_refused(
    live: LiveApi, tmp_path: Path, video: Path, pg_dsn: str
) -> None:
    root = tmp_path / "in"
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.mp4"
    os.link(video, secret)
    os.link(video, root / "clip.mp4")
    (root / "link.mp4").symlink_to(secret)
    (root / "dirlink").symlink_to(outside, target_is_directory=True)
    sibling = tmp_path / "in-evil"
    sibling.mkdir()
    os.link(video, sibling / "clip.mp4")
    (root / "folder").mkdir()
    refused = [
        "in/clip.mp4",  # relative
        "~/clip.mp4",
        str(root / ".." / "outside" / "secret.mp4"),
        str(root / "folder" / ".." / "clip.mp4"),  # even when it would land inside
        str(secret),
        str(root / "link.mp4"),
        str(root / "dirlink" / "secret.mp4"),
        str(sibling / "clip.mp4"),
        "/etc/passwd",
        str(root / "a\x00b.mp4"),
        str(root / "folder"),  # not a file
        str(root / "absent.mp4"),
    ]
    with httpx.Client(base_url=live.url, headers=live.headers("write"), timeout=30) as c:
        for path in refused:
            answer = c.post("/v1/posts", json={"path": path, "platforms": ["testplatform"]})
            assert answer.status_code == 400, (path, answer.status_code, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
        inside = c.post(
            "/v1/posts", json={"path": str(root / "clip.mp4"), "platforms": ["testplatform"]}
        )
        assert inside.status_code == 201, inside.text  # the route works: only those were refused
    from pellacia.testing.cli import sql

    assert [r["video_path"] for r in sql(pg_dsn, "SELECT video_path FROM posts")] == [
        str(root / "clip.mp4")
    ]


def test_an_uploaded_file_name_cannot_place_the_file_elsewhere(
    live: LiveApi, tmp_path: Path, video: Path
) -> None:
    uploads = Path(live.settings.data_dir) / "uploads"
    names = ["../../../escaped.mp4", "/tmp/absolute.mp4", "..", "a/../../b.mp4", "\\..\\w.mp4"]
    with httpx.Client(base_url=live.url, headers=live.headers("write"), timeout=60) as c:
        for i, name in enumerate(names):
            answer = c.post(
                "/v1/posts/upload",
                files={"file": (name, video.read_bytes(), "video/mp4")},
                data={"metadata": json.dumps({"platforms": ["testplatform"], "title": f"n{i}"})},
            )
            assert answer.status_code == 201, (name, answer.text)
    saved = [p for p in uploads.rglob("*") if p.is_file()]
    assert len(saved) == len(names)
    # each in a folder of its own right under uploads/, named without a path
    assert all(p.parent.parent == uploads and ".." not in p.name for p in saved), saved
    assert [p.parent.parent for p in tmp_path.rglob("escaped.mp4")] == [uploads]
    assert not Path("/tmp/absolute.mp4").exists()


# --------------------------------------------------------------------- intake


@pytest.fixture
async def intake(
    pg_dsn: str, testplatform: FakeTestPlatform, tmp_path: Path
) -> AsyncIterator[tuple[FolderIntake, Any]]:
    pool = await create_pool(pg_dsn, max_size=4)
    folder = tmp_path / "drop"
    folder.mkdir()
    settings = settings_for(testplatform, tmp_path / "data", intake={"settle_seconds": 0})
    clock = FakeClock(datetime(2030, 6, 1, 12, 0, tzinfo=UTC))
    try:
        yield FolderIntake(pool, load_plugins(), settings, folder, clock), pool
    finally:
        await pool.close()


def _text(path: Path) -> str:
    return path.read_text()


def _meta(path: Path) -> None:
    path.write_text(json.dumps({"platforms": ["testplatform"], "title": "Flood"}))


async def test_intake_refuses_links_leading_out_of_the_folder(
    intake: tuple[FolderIntake, Any], tmp_path: Path, video: Path, victim: Path
) -> None:
    watcher, pool = intake
    folder = watcher.folder
    outside = tmp_path / "outside"
    outside.mkdir()
    os.link(video, outside / "private.mp4")
    _meta(outside / "private.json")
    # a video that is a link out, a JSON that is a link out, a link into /proc
    (folder / "leak.mp4").symlink_to(outside / "private.mp4")
    _meta(folder / "leak.json")
    os.link(video, folder / "meta.mp4")
    (folder / "meta.json").symlink_to(outside / "private.json")
    (folder / "proc.mp4").symlink_to("/proc/self/environ")
    _meta(folder / "proc.json")
    # and one good item, to show the folder works
    os.link(video, folder / "good.mp4")
    _meta(folder / "good.json")
    result = await watcher.scan()
    assert result.submitted == ["good"]
    assert sorted(result.rejected) == ["leak", "meta", "proc"]
    for name in ("leak", "meta", "proc"):
        text = (folder / "rejected" / f"{name}.error.txt").read_text()
        assert "link to a file outside the intake folder" in text, text
    async with pool.acquire() as conn:
        paths = [r["video_path"] for r in await conn.fetch("SELECT video_path FROM posts")]
    assert len(paths) == 1 and "good" in paths[0]
    assert (outside / "private.mp4").is_file()  # untouched


async def test_intake_never_writes_through_a_planted_link(
    intake: tuple[FolderIntake, Any], video: Path, victim: Path
) -> None:
    watcher, _pool = intake
    folder = watcher.folder
    (folder / "rejected").mkdir()
    (folder / "rejected" / "bad.error.txt").symlink_to(victim)
    os.link(video, folder / "bad.mp4")
    (folder / "bad.json").write_text('{"platforms": ')
    assert (await watcher.scan()).rejected == ["bad"]
    assert _text(victim) == VICTIM_TEXT
    assert "not valid JSON" in (folder / "rejected" / "bad.error.txt").read_text()
    # a rejected/ folder that is a link elsewhere: nothing is moved or written there
    elsewhere = victim.parent
    (folder / "rejected").rename(folder / "old")
    (folder / "rejected").symlink_to(elsewhere, target_is_directory=True)
    os.link(video, folder / "worse.mp4")
    (folder / "worse.json").write_text("[]")
    assert (await watcher.scan()).rejected == ["worse"]
    assert sorted(p.name for p in elsewhere.iterdir()) == ["victim.txt"]


# ------------------------------------------------------------- manual export


def _package(target: Path, video: Path) -> Path:
    return write_package(
        target,
        delivery={
            "id": uuid.uuid4(),
            "platform": "youtube",
            "account": "default",
            "idempotency_key": "k",
            "receipt": None,
        },
        post={
            "id": uuid.uuid4(),
            "video_path": str(video),
            "title": "Flood",
            "description": "",
            "hashtags": [],
            "priority": "normal",
            "scheduled_at": None,
            "timezone": None,
            "video_sha256": "0" * 64,
            "video_size": video.stat().st_size,
            "overrides": {},
        },
        attempts=[],
        reason="every automatic layer failed",
        outcome_unknown=False,
    )


def test_manual_export_never_writes_through_a_planted_link(
    tmp_path: Path, video: Path, victim: Path
) -> None:
    shared = tmp_path / "shared"  # an export target others can write to
    shared.mkdir()
    # the package folder itself is a link elsewhere: refused
    (shared / "pkg-a").symlink_to(victim.parent, target_is_directory=True)
    with pytest.raises(BadInput, match="is a link"):
        _package(shared / "pkg-a", video)
    # links planted for the files and the archive: replaced, never written through
    planted = shared / "pkg-b"
    planted.mkdir()
    for name in ("metadata.json", "errors.json", "INSTRUCTIONS.md", "video.mp4"):
        (planted / name).symlink_to(victim)
    (shared / "pkg-b.zip").symlink_to(victim)
    folder = _package(planted, video)
    zipped = zip_package(folder, shared)
    assert victim.read_text() == VICTIM_TEXT
    assert sorted(p.name for p in victim.parent.iterdir()) == ["victim.txt"]
    assert not any(p.is_symlink() for p in [*planted.iterdir(), zipped])
    assert json.loads((planted / "metadata.json").read_text())["title"] == "Flood"
    assert (planted / "video.mp4").stat().st_size == video.stat().st_size
