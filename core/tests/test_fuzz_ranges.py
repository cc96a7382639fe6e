"""Properties of Content-Range / Range handling on both sides of a resumable upload:
the SDK's ``Content-Range`` reads back to the chunk in the fakes' parser; any
header is a range or "malformed", never an exception; the YouTube client reads
any ``Range`` answer as an offset; and the SDK's upload loop, against a server
that keeps any part of a chunk, lies about its offset or fails, ends with the
whole file stored or a ``Transient`` with the server's offset saved, never
loops forever."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pellacia.errors import Transient
from pellacia.sdk import Chunk, Reply, upload_chunks
from pellacia.sdk.upload import NO_PROGRESS_LIMIT
from pellacia.testing.fuzz import fuzz_settings
from pellacia.testing.sessions import MemoryUploadSession
from pellacia_sandbox.fakes.ranges import parse_content_range, stored_range
from pellacia_sandbox.fakes.youtube import UPLOADS_PLAYLIST
from pellacia_youtube.upload import parse_progress

sizes = st.integers(0, 2**53)


@fuzz_settings(max_examples=300)
@given(offset=sizes, length=st.integers(1, 2**40), extra=st.integers(0, 2**40))
def test_the_sdk_content_range_reads_back_as_its_chunk(
    offset: int, length: int, extra: int
) -> None:
    chunk = Chunk(Path("/dev/null"), offset, length, offset + length + extra)
    parsed = parse_content_range(chunk.content_range)
    assert parsed is not None and not parsed.query
    assert (parsed.first, parsed.last, parsed.total) == (offset, chunk.end - 1, chunk.total)
    assert parsed.length == length


@fuzz_settings(max_examples=300)
@given(
    header=st.one_of(
        st.text(max_size=40),
        st.builds(
            lambda a, b, t: f"bytes {a}-{b}/{t}",
            st.one_of(sizes.map(str), st.text(max_size=4)),
            st.one_of(sizes.map(str), st.text(max_size=4)),
            st.one_of(sizes.map(str), st.just("*"), st.text(max_size=4)),
        ),
        st.sampled_from(["bytes */*", "bytes */10", "bytes *\n/10", "bytes 0-0/1"]),
    )
)
@example(
    header="bytes \u0660-\u0661/\u0662"
)  # Arabic-Indic digits: the old \d pattern and int() took them
@example(header="bytes 1_0-2_0/3_0")  # int() takes underscores
@example(header="bytes 5-1/10")  # first after last
@example(header="bytes 1-2-3/10")
def test_any_content_range_is_a_range_or_malformed(header: str) -> None:
    parsed = parse_content_range(header)
    if parsed is None:
        return
    assert header.isascii() and "_" not in header
    if parsed.query:
        assert parsed.last is None and parsed.length == 0
    else:
        assert parsed.first is not None and parsed.last is not None and parsed.total is not None
        assert 0 <= parsed.first <= parsed.last and parsed.length >= 1
        numbers = header.removeprefix("bytes ").replace("/", "-").split("-")
        assert [int(n) for n in numbers] == [parsed.first, parsed.last, parsed.total]


@fuzz_settings(max_examples=200)
@given(stored=sizes)
def test_the_fakes_range_reads_back_in_the_youtube_client(stored: int) -> None:
    header = stored_range(stored)
    reply = Reply.of(308, {"Range": header} if header is not None else {})
    assert parse_progress(reply).offset == stored


@fuzz_settings(max_examples=300)
@given(
    status=st.sampled_from([200, 201, 308, 404, 410]),
    range_header=st.one_of(st.none(), st.text(max_size=30), sizes.map(lambda n: f"bytes=0-{n}")),
    body=st.one_of(st.binary(max_size=30), st.sampled_from([b'{"id": "x"}', b"[]", b"null"])),
)
@example(
    status=308, range_header="bytes=0-\u0661\u0662", body=b""
)  # non-ASCII digits: not an offset
def test_any_youtube_answer_is_progress_or_transient(
    status: int, range_header: str | None, body: bytes
) -> None:
    headers = {} if range_header is None else {"Range": range_header}
    try:
        progress = parse_progress(Reply.of(status, headers, body))
    except Transient:
        assert status in (200, 201)
        return
    assert progress.offset >= 0
    if status == 308 and progress.offset:
        assert range_header is not None and range_header.isascii()


# ------------------------------------------------------------ the upload loop

#: what the server does with one chunk: keep this many of its bytes (clipped),
#: report this offset instead, or fail; the last one goes on forever
behaviours = st.one_of(
    st.tuples(st.just("keep"), st.integers(0, 64)),
    st.tuples(st.just("keep"), st.just(10**9)),  # the whole chunk
    st.tuples(st.just("lie"), st.integers(-5, 300)),
    st.tuples(st.just("fail"), st.just(0)),
)


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    data = bytes(range(256)) * 1  # 256 bytes, each position distinct
    path = tmp_path_factory.mktemp("up") / "video.bin"
    path.write_bytes(data)
    return path, data


@fuzz_settings(max_examples=200)
@given(
    total=st.integers(1, 256),
    chunk=st.integers(1, 64),
    start=st.integers(0, 255),
    plan=st.lists(behaviours, min_size=1, max_size=40),
)
@example(total=100, chunk=10, start=0, plan=[("keep", 0)])  # looped forever before
def test_the_upload_loop_stores_the_file_or_stops_with_the_offset_saved(
    data_file: tuple[Path, bytes], total: int, chunk: int, start: int, plan: list[Any]
) -> None:
    path, data = data_file
    start = min(start, total - 1)
    stored = bytearray(data[:start])  # what the server holds
    session = MemoryUploadSession()
    sends = 0
    said: list[int] = []

    async def send(c: Chunk) -> int:
        nonlocal sends
        # past the plan the server keeps doing what it did last
        kind, n = plan[min(sends, len(plan) - 1)]
        sends += 1
        assert sends < 10_000, "the loop does not end"
        assert c.content_range == f"bytes {c.offset}-{c.end - 1}/{total}"
        if kind == "fail":
            raise Transient("503")
        body = b"".join([piece async for piece in c.body()()])
        assert body == data[c.offset : c.end]
        if c.offset <= len(stored):  # the server keeps bytes that follow what it has
            keep = body[len(stored) - c.offset :][: max(0, n)] if kind == "keep" else b""
            stored.extend(keep)
        said.append(n if kind == "lie" else len(stored))
        return said[-1]

    async def run() -> int:
        return await upload_chunks(
            session,
            path,
            total=total,
            offset=start,
            chunk_length=lambda at: min(chunk, total - at),
            send=send,
            state=lambda at: {"offset": at},
        )

    try:
        final = asyncio.run(run())
    except Transient:
        # stopped: the last saved offset is one the server reported, within the file
        if session.last_state is not None:
            assert 0 <= session.last_state["offset"] <= total
            assert session.last_state["offset"] in said
        return
    assert final == total
    if not any(kind == "lie" for kind, _ in plan[:sends]):
        assert bytes(stored) == data[:total]  # every byte, in order, once
    offsets = [s["offset"] for s in session.saved]
    assert all(o in said for o in offsets)
    assert sends <= len(plan) + total + NO_PROGRESS_LIMIT


# ------------------------------------------------------- the fakes, over HTTP


@pytest.fixture
def youtube_fake(sandbox: Any) -> Iterator[dict[str, Any]]:
    """A resumable YouTube upload session on the session's sandbox; the fake is
    reset afterwards (quota, sessions) for the tests that share it."""
    sandbox.require("youtube")
    fake = sandbox.host.fakes["youtube"]
    token = fake.issue_token()["access_token"]
    base = f"{sandbox.base_url}/youtube"
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=auth, timeout=10) as http:
        started = http.post(
            "/upload/youtube/v3/videos",
            params={"uploadType": "resumable", "part": "snippet,status"},
            headers={
                "X-Upload-Content-Length": str(UPLOAD_TOTAL),
                "X-Upload-Content-Type": "video/mp4",
            },
            json={"snippet": {"title": "fuzz"}, "status": {"privacyStatus": "private"}},
        )
        assert started.status_code == 200, started.text
        try:
            yield {"http": http, "session": started.headers["Location"]}
        finally:
            asyncio.run(sandbox.control.reset("youtube"))


UPLOAD_TOTAL = 4 * 256 * 1024
headers_for_chunks = st.one_of(
    st.text(max_size=30),
    st.builds(
        lambda a, b, t: f"bytes {a}-{b}/{t}",
        st.integers(-2, UPLOAD_TOTAL + 2),
        st.integers(-2, UPLOAD_TOTAL + 2),
        st.sampled_from([str(UPLOAD_TOTAL), "*", "7", "\u0664"]),
    ),
    st.sampled_from([f"bytes */{UPLOAD_TOTAL}", "bytes */*", "bytes */3", ""]),
)


@fuzz_settings(max_examples=60)
@given(header=headers_for_chunks, body=st.binary(max_size=64))
@example(header="bytes 5-1/1048576", body=b"")
def test_the_youtube_fake_answers_any_content_range_without_a_5xx(
    youtube_fake: dict[str, Any], header: str, body: bytes
) -> None:
    http = youtube_fake["http"]
    answer = http.put(
        youtube_fake["session"],
        content=body,
        headers={"Content-Range": header} if header.isascii() else {},
    )
    assert answer.status_code in (200, 201, 308, 400, 404), (header, answer.status_code)
    if answer.status_code == 308:
        progress = parse_progress(Reply.of(308, dict(answer.headers)))
        assert 0 <= progress.offset <= UPLOAD_TOTAL


@fuzz_settings(max_examples=40)
@given(
    max_results=st.one_of(st.text(max_size=6), st.integers(-5, 80).map(str)),
    page=st.one_of(st.text(max_size=6), st.integers(-5, 80).map(str)),
)
@example(max_results="abc", page="")  # was a 500: int() raised in the fake
@example(max_results="5", page="-3")  # a negative page start
def test_the_youtube_fake_answers_any_paging_without_a_5xx(
    youtube_fake: dict[str, Any], max_results: str, page: str
) -> None:
    answer = youtube_fake["http"].get(
        "/youtube/v3/playlistItems",
        params={
            "part": "snippet",
            "playlistId": UPLOADS_PLAYLIST,
            "maxResults": max_results,
            "pageToken": page,
        },
    )
    assert answer.status_code < 500, (max_results, page, answer.text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@fuzz_settings(max_examples=40)
@given(
    body=st.one_of(
        json_values,
        st.fixed_dictionaries({}, optional={"snippet": json_values, "status": json_values}),
        st.fixed_dictionaries(
            {
                "snippet": st.fixed_dictionaries(
                    {}, optional={"title": json_values, "description": json_values}
                )
            }
        ),
    )
)
@example(body=[])  # was a 500: a list has no .get
@example(body={"snippet": {"title": 5}})  # was a 500: len() of an int
def test_the_youtube_fake_answers_any_video_resource_without_a_5xx(
    youtube_fake: dict[str, Any], body: Any
) -> None:
    answer = youtube_fake["http"].post(
        "/upload/youtube/v3/videos",
        params={"uploadType": "resumable", "part": "snippet,status"},
        headers={"X-Upload-Content-Length": "10", "X-Upload-Content-Type": "video/mp4"},
        json=body,
    )
    assert answer.status_code < 500, (body, answer.text)
