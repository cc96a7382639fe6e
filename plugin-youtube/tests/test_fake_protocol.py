"""The YouTube fake is strict where the real service is: raw HTTP against it."""

from __future__ import annotations

import json

from .conftest import Harness

CHUNK = 256 * 1024


async def start(h: Harness, total: int, **snippet: str) -> str:
    token = (await h.tokens.current()).access_token  # type: ignore[union-attr]
    async with h.http.post(
        f"{h.fake.base_url}/upload/youtube/v3/videos",
        params={"uploadType": "resumable", "part": "snippet,status"},
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json; charset=UTF-8",
            "X-Upload-Content-Length": str(total),
            "X-Upload-Content-Type": "video/mp4",
        },
        data=json.dumps({"snippet": {"title": "t", **snippet}}),
    ) as resp:
        assert resp.status == 200, await resp.text()
        return resp.headers["Location"]


async def put(h: Harness, uri: str, crange: str, body: bytes) -> tuple[int, dict[str, str]]:
    token = (await h.tokens.current()).access_token  # type: ignore[union-attr]
    async with h.http.put(
        uri,
        headers={"Authorization": f"Bearer {token}", "Content-Range": crange},
        data=body,
        allow_redirects=False,
    ) as resp:
        await resp.read()
        return resp.status, dict(resp.headers)


async def test_resumable_rules(harness: Harness) -> None:
    total = 3 * CHUNK
    uri = await start(harness, total)
    # nothing stored yet: 308 without Range
    status, headers = await put(harness, uri, f"bytes */{total}", b"")
    assert status == 308 and "Range" not in headers
    # a non-final chunk that is not a multiple of 256 KiB is refused
    status, _ = await put(harness, uri, f"bytes 0-99999/{total}", b"x" * 100_000)
    assert status == 400
    # a gap after the stored bytes is refused
    status, _ = await put(harness, uri, f"bytes {CHUNK}-{2 * CHUNK - 1}/{total}", b"x" * CHUNK)
    assert status == 400
    status, headers = await put(harness, uri, f"bytes 0-{CHUNK - 1}/{total}", b"x" * CHUNK)
    assert status == 308 and headers["Range"] == f"bytes=0-{CHUNK - 1}"
    # an overlapping resend is accepted; only the new bytes are kept
    status, headers = await put(
        harness, uri, f"bytes 0-{2 * CHUNK - 1}/{total}", b"x" * (2 * CHUNK)
    )
    assert status == 308 and headers["Range"] == f"bytes=0-{2 * CHUNK - 1}"
    status, _ = await put(harness, uri, f"bytes {2 * CHUNK}-{total - 1}/{total}", b"y" * CHUNK)
    assert status == 200
    status, _ = await put(harness, uri, f"bytes */{total}", b"")
    assert status == 200
    [upload] = harness.state()["uploads"]
    # every byte that arrived counts, refused chunks included
    assert upload["stored"] == total and upload["bytes_received"] == 5 * CHUNK + 100_000


async def test_metadata_limits_and_auth(harness: Harness) -> None:
    async with harness.http.post(
        f"{harness.fake.base_url}/upload/youtube/v3/videos",
        params={"uploadType": "resumable", "part": "snippet,status"},
        headers={"Authorization": "Bearer nope", "X-Upload-Content-Length": "10"},
        data=b"{}",
    ) as resp:
        body = await resp.json()
        assert resp.status == 401 and body["error"]["errors"][0]["reason"] == "authError"
    token = (await harness.tokens.current()).access_token  # type: ignore[union-attr]
    async with harness.http.post(
        f"{harness.fake.base_url}/upload/youtube/v3/videos",
        params={"uploadType": "resumable", "part": "snippet,status"},
        headers={
            "Authorization": f"Bearer {token}",
            "X-Upload-Content-Length": "10",
            "X-Upload-Content-Type": "video/mp4",
        },
        data=json.dumps({"snippet": {"title": "t", "description": "d" * 5001}}),
    ) as resp:
        body = await resp.json()
        assert resp.status == 400
        assert body["error"]["errors"][0]["reason"] == "invalidDescription"


async def test_status_query_without_the_total(harness: Harness) -> None:
    """``bytes */*`` is a status query too (the size is not needed to ask)."""
    total = 2 * CHUNK
    uri = await start(harness, total)
    status, headers = await put(harness, uri, "bytes */*", b"")
    assert status == 308 and "Range" not in headers
    status, _ = await put(harness, uri, f"bytes 0-{CHUNK - 1}/{total}", b"x" * CHUNK)
    assert status == 308
    status, headers = await put(harness, uri, "bytes */*", b"")
    assert status == 308 and headers["Range"] == f"bytes=0-{CHUNK - 1}"
    status, _ = await put(harness, uri, f"bytes */{total + 1}", b"")  # a wrong total is not
    assert status == 400
    status, _ = await put(harness, uri, f"bytes {CHUNK}-{total - 1}/{total}", b"y" * CHUNK)
    assert status == 200
    status, _ = await put(harness, uri, "bytes */*", b"")
    assert status == 200
