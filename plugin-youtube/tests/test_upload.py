"""The resumable upload against the YouTube fake over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from pellacia.errors import Transient

from .conftest import Harness, KiB, MemorySession, make_file, make_request, sha256

SESSION_PATH = r"^/upload/youtube/v3/videos/session/"
CHUNK = 256 * KiB


def uploads_put_log(h: Harness) -> list[dict]:
    return [r for r in h.fake.requests if r["method"] == "PUT"]


async def test_happy_path_upload_and_publish(harness: Harness, tmp_path: Path) -> None:
    video = make_file(tmp_path / "v.mp4", 5 * CHUNK + 1234)
    session = MemorySession()
    request = make_request(video, options={"tags": ["politics"]})
    ctx = harness.context()

    receipt = await harness.platform.upload(request, session, ctx)

    state = harness.state()
    [post] = state["posts"]
    assert post["id"] == receipt.remote_id
    assert post["sha256"] == sha256(video)
    assert post["bytes"] == video.stat().st_size
    assert post["status"]["privacyStatus"] == "private"  # unaudited projects: private only
    assert post["snippet"]["description"] == "What happened today.\n\n#news"
    assert "politics" in post["snippet"]["tags"]
    [upload] = state["uploads"]
    assert upload["bytes_received"] == video.stat().st_size  # nothing sent twice
    # the session URI was saved before any byte, then after each acknowledged chunk
    assert session.saved[0]["offset"] == 0
    assert [s["offset"] for s in session.saved[1:]] == [CHUNK * i for i in range(1, 6)]
    assert session.progressed[-1] == (video.stat().st_size,) * 2

    post_obj = await harness.platform.publish(request, receipt, ctx)
    assert post_obj.remote_id == receipt.remote_id
    assert post_obj.url == f"https://www.youtube.com/watch?v={receipt.remote_id}"
    # processing took the configured 2 "uploaded" polls, then "processed"
    assert harness.state()["calls"]["videos.list"] == 3


async def test_partial_chunk_acceptance_trusts_range(harness: Harness, tmp_path: Path) -> None:
    harness.fake.configure(partial_accept=True)
    video = make_file(tmp_path / "v.mp4", 8 * CHUNK + 77)
    receipt = await harness.platform.upload(
        make_request(video), MemorySession(), harness.context(chunk_size=4 * CHUNK)
    )
    [post] = harness.state()["posts"]
    assert post["id"] == receipt.remote_id
    assert post["sha256"] == sha256(video)
    [upload] = harness.state()["uploads"]
    # the fake kept half of each big chunk: the rest was sent again from its Range
    assert upload["bytes_received"] > video.stat().st_size
    assert upload["chunks"] > 3


async def test_308_location_is_not_followed(harness: Harness, tmp_path: Path) -> None:
    harness.fake.configure(location_on_308=True)
    video = make_file(tmp_path / "v.mp4", 3 * CHUNK + 5)
    await harness.platform.upload(make_request(video), MemorySession(), harness.context())
    state = harness.state()
    assert state["redirect_trap_hits"] == 0
    assert state["posts"][0]["sha256"] == sha256(video)


async def test_reset_mid_chunk_resumes_via_status_query(harness: Harness, tmp_path: Path) -> None:
    video = make_file(tmp_path / "v.mp4", 6 * CHUNK + 999)
    size = video.stat().st_size
    # the third chunk PUT dies after 100 000 body bytes
    harness.host.faults.add(
        {
            "platform": "youtube",
            "kind": "reset",
            "method": "PUT",
            "path": SESSION_PATH,
            "skip": 2,
            "after_bytes": 100_000,
        }
    )
    session = MemorySession()
    request = make_request(video)
    with pytest.raises(Transient) as err:
        await harness.platform.upload(request, session, harness.context())
    assert err.value.retryable
    assert session.resume_state is not None
    assert session.resume_state["offset"] == 2 * CHUNK

    # the engine calls again with the saved state (a fresh process would too)
    puts_before = len(uploads_put_log(harness))
    resumed = MemorySession(session.resume_state)
    receipt = await harness.platform.upload(request, resumed, harness.context())
    first_put = uploads_put_log(harness)[puts_before]
    assert first_put["fault"] is None
    state = harness.state()
    [post] = state["posts"]
    assert post["id"] == receipt.remote_id and post["sha256"] == sha256(video)
    [upload] = state["uploads"]
    reset = [r for r in state["requests"] if r.get("fault") == "reset"]
    assert [r["bytes_before_reset"] for r in reset] == [100_000]  # no silent replay
    # every acknowledged byte went exactly once; only the broken chunk's bytes twice
    assert upload["bytes_received"] == size


async def test_status_query_is_first_on_resume(harness: Harness, tmp_path: Path) -> None:
    video = make_file(tmp_path / "v.mp4", 4 * CHUNK)
    harness.host.faults.add(
        {
            "platform": "youtube",
            "kind": "server_error",
            "method": "PUT",
            "path": SESSION_PATH,
            "skip": 1,
        }
    )
    session = MemorySession()
    with pytest.raises(Transient):
        await harness.platform.upload(make_request(video), session, harness.context())
    # after the 503 the client asked where the server was (bytes */TOTAL) and saved it
    puts = uploads_put_log(harness)
    assert puts[1]["fault"] == "server_error"
    assert session.resume_state is not None and session.resume_state["offset"] == CHUNK
    await harness.platform.upload(
        make_request(video), MemorySession(session.resume_state), harness.context()
    )
    assert harness.state()["uploads"][0]["bytes_received"] == 4 * CHUNK


async def test_expired_session_starts_a_new_one(harness: Harness, tmp_path: Path) -> None:
    video = make_file(tmp_path / "v.mp4", 4 * CHUNK + 10)
    harness.host.faults.add(
        {
            "platform": "youtube",
            "kind": "reset",
            "method": "PUT",
            "path": SESSION_PATH,
            "skip": 1,
            "after_bytes": 10,
        }
    )
    session = MemorySession()
    with pytest.raises(Transient):
        await harness.platform.upload(make_request(video), session, harness.context())
    old_uri = session.resume_state["session_uri"]  # type: ignore[index]
    harness.fake.expire_sessions()

    resumed = MemorySession(session.resume_state)
    receipt = await harness.platform.upload(make_request(video), resumed, harness.context())
    assert resumed.saved[0]["session_uri"] != old_uri
    assert resumed.saved[0]["offset"] == 0
    state = harness.state()
    assert len(state["uploads"]) == 2
    [post] = state["posts"]
    assert post["id"] == receipt.remote_id and post["sha256"] == sha256(video)


async def test_token_expiry_mid_upload_refreshes_once(harness: Harness, tmp_path: Path) -> None:
    video = make_file(tmp_path / "v.mp4", 5 * CHUNK)
    session = MemorySession()

    def expire_after_two_chunks(sent: int, total: int) -> None:
        if sent == 2 * CHUNK:
            harness.fake.expire_tokens()

    session.on_progress = expire_after_two_chunks
    await harness.platform.upload(make_request(video), session, harness.context())
    assert harness.tokens is not None and harness.tokens.refreshes == 1
    state = harness.state()
    assert state["tokens"]["refreshes"] == 1
    assert [r["status"] for r in state["requests"]].count(401) == 1
    assert state["posts"][0]["sha256"] == sha256(video)


async def test_chunk_size_must_be_256k_multiple(harness: Harness, tmp_path: Path) -> None:
    from pellacia.errors import Rejected

    video = make_file(tmp_path / "v.mp4", 1000)
    with pytest.raises(Rejected, match="256 KiB"):
        await harness.platform.upload(
            make_request(video), MemorySession(), harness.context(chunk_size=1000)
        )
