"""Properties of intake metadata (``name.json`` beside ``name.mp4``): any bytes
parse to metadata or to ``ItemProblems`` (never another exception); metadata
round-trips through its JSON; and in a watched folder any JSON becomes exactly
one post or one rejected item with its reason, never an exception out of the
scan and never a half-written post."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pellacia.clock import FakeClock
from pellacia.intake.folder import FolderIntake
from pellacia.intake.item import ItemMetadata, ItemProblems, parse
from pellacia.plugins import load_plugins
from pellacia.store import posts as post_store
from pellacia.store.pool import create_pool
from pellacia.testing.fuzz import fuzz_settings
from pellacia_testplatform.fake import FakeTestPlatform
from pellacia_testplatform.fixtures import settings_for

texts = st.text(max_size=30)  # with NUL and lone surrogates: JSON carries both
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=10,
)
FIELDS = sorted(ItemMetadata.model_fields)
#: near-valid items: the real keys, sometimes a good value, sometimes anything
good = {
    "platforms": st.sampled_from(["all", ["testplatform"], ["nope"], []]),
    "title": texts,
    "description": texts,
    "hashtags": st.lists(texts, max_size=3),
    "priority": st.sampled_from(["normal", "breaking", "urgent"]),
    "at": st.sampled_from(["2030-06-02 09:00", "2026-03-08 02:30", "2030-11-03 01:30", "soon"]),
    "timezone": st.sampled_from(["Europe/Paris", "America/New_York", "Mars/Olympus", ""]),
    "fold": st.sampled_from([0, 1, 2, None]),
    "options": st.dictionaries(
        st.sampled_from(["testplatform", "x"]),
        st.dictionaries(texts, json_values, max_size=2),
        max_size=2,
    ),
}
items = st.fixed_dictionaries(
    {"platforms": good["platforms"]},
    optional={name: st.one_of(good[name], json_values) for name in FIELDS if name != "platforms"}
    | {"extra": json_values},
)


@fuzz_settings(max_examples=300)
@given(raw=st.one_of(st.binary(max_size=200), items.map(lambda d: json.dumps(d).encode())))
@example(raw=b"[" * 100_000)  # was a RecursionError
@example(raw=b'{"platforms": "all", "options": {"testplatform": {"x": NaN}}}')  # not storable
@example(raw=b'{"platforms": "all", "title": "\\ud800"}')  # lone surrogate: parsed, refused later
def test_any_bytes_are_metadata_or_item_problems(raw: bytes) -> None:
    try:
        item = parse(raw)
    except ItemProblems as exc:
        assert exc.problems and all(p and "\n" not in p for p in exc.problems)
        return
    assert isinstance(item, ItemMetadata)


@fuzz_settings(max_examples=200)
@given(data=items)
def test_metadata_round_trips_through_its_json(data: dict[str, Any]) -> None:
    try:
        item = parse(json.dumps(data).encode())
    except ItemProblems:
        return
    again = parse(item.model_dump_json(exclude_unset=True).encode())
    assert again == item


# ------------------------------------------------------------------ the folder


@pytest.fixture
async def ctx(
    pg_dsn: str, testplatform: FakeTestPlatform, tmp_path: Path
) -> AsyncIterator[dict[str, Any]]:
    pool = await create_pool(pg_dsn, max_size=4)
    try:
        yield {
            "pool": pool,
            "root": tmp_path,
            "clock": FakeClock(datetime(2030, 6, 1, 12, 0, tzinfo=UTC)),
            "settings": settings_for(testplatform, tmp_path / "data", intake={"settle_seconds": 0}),
            "plugins": load_plugins(),
            "n": 0,
        }
    finally:
        await pool.close()


async def _posts(pool: Any) -> int:
    async with pool.acquire() as conn:
        return (await post_store.counts(conn))[0]


@fuzz_settings(max_examples=25)
@given(data=items)
@example(data={"platforms": ["testplatform"], "title": "a\x00b"})  # was an asyncpg error
@example(data={"platforms": ["testplatform"], "description": "\ud800"})  # was an encode error
@example(data={"platforms": ["testplatform"], "options": {"testplatform": {"\x00": 1}}})
async def test_any_item_is_one_post_or_one_rejection(
    ctx: dict[str, Any], video: Path, data: dict[str, Any]
) -> None:
    ctx["n"] += 1
    folder = ctx["root"] / f"drop{ctx['n']}"  # a folder per example: nothing carried over
    folder.mkdir()
    shutil.copyfile(video, folder / "clip.mp4")
    (folder / "clip.json").write_text(json.dumps(data), encoding="utf-8")
    before = await _posts(ctx["pool"])
    intake = FolderIntake(ctx["pool"], ctx["plugins"], ctx["settings"], folder, ctx["clock"])
    result = await intake.scan()
    after = await _posts(ctx["pool"])
    assert (result.submitted, result.rejected) in ((["clip"], []), ([], ["clip"])), result
    if result.submitted:
        assert after == before + 1
    else:
        assert after == before  # nothing half-written
        reason = (folder / "rejected" / "clip.error.txt").read_text(encoding="utf-8")
        assert reason.startswith("clip was not submitted:\n- ")
