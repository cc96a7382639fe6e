"""The TikTok fake enforces TikTok's documented rules (raw HTTP, no plugin code)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from pellacia.contract import MediaInfo, PlatformContext
from pellacia.errors import Transient
from pellacia_sandbox.fakes.tiktok import MB, TikTokFake
from pellacia_sandbox.host import SandboxHost
from pellacia_tiktok.platform import TikTokPlatform

from .conftest import MemorySession, make_request

Json = dict[str, Any]


@pytest.fixture
def api(fake: TikTokFake) -> str:
    return fake.base_url


@pytest.fixture
def bearer(fake: TikTokFake) -> dict[str, str]:
    return {"Authorization": f"Bearer {fake.issue_token()['access_token']}"}


async def post(
    http: aiohttp.ClientSession, url: str, body: Json, headers: dict[str, str]
) -> tuple[int, Json]:
    async with http.post(url, json=body, headers=headers) as resp:
        return resp.status, await resp.json()


def direct(size: int, chunk: int, count: int, **post_info: Any) -> Json:
    info = {"title": "hello", "privacy_level": "SELF_ONLY", **post_info}
    source = {
        "source": "FILE_UPLOAD",
        "video_size": size,
        "chunk_size": chunk,
        "total_chunk_count": count,
    }
    return {"source_info": source, "post_info": info}


@pytest.mark.parametrize(
    ("size", "chunk", "count", "ok"),
    [
        (50_000_123, 10_000_000, 5, True),  # the documentation's example
        (50_000_123, 10_000_000, 6, False),  # count must be floor(size / chunk)
        (3 * MB, 3 * MB, 1, True),  # under 5 MB: whole
        (3 * MB, 1 * MB, 3, False),  # under 5 MB must go whole
        (100 * MB, 4 * MB, 25, False),  # chunk under 5 MB
        (200 * MB, 65 * MB, 3, False),  # chunk over 64 MB
        (100 * MB, 100 * MB, 1, False),  # over 64 MB must be chunked
        (190 * MB, 63_000_000, 3, True),  # last chunk over 64 MB: fine
        (6000 * MB, 5 * MB, 1200, False),  # over 1000 chunks
    ],
)
async def test_init_chunk_rules(
    fake: TikTokFake,
    http: aiohttp.ClientSession,
    api: str,
    bearer: dict[str, str],
    size: int,
    chunk: int,
    count: int,
    ok: bool,
) -> None:
    fake.configure(min_chunk_size=5 * MB, init_per_minute=100)
    status, body = await post(
        http, f"{api}/v2/post/publish/video/init/", direct(size, chunk, count), bearer
    )
    assert body["error"]["log_id"]
    if ok:
        assert status == 200 and body["error"]["code"] == "ok"
        assert body["data"]["publish_id"].startswith("v_pub_")
        assert "upload_token=" in body["data"]["upload_url"]
    else:
        assert (status, body["error"]["code"]) == (400, "invalid_params")


async def test_init_checks_privacy_title_scope_and_token(
    fake: TikTokFake, http: aiohttp.ClientSession, api: str, bearer: dict[str, str]
) -> None:
    url = f"{api}/v2/post/publish/video/init/"
    fake.configure(privacy_level_options=["SELF_ONLY"])
    status, body = await post(
        http, url, direct(1000, 1000, 1, privacy_level="PUBLIC_TO_EVERYONE"), bearer
    )
    assert (status, body["error"]["code"]) == (400, "privacy_level_option_mismatch")
    status, body = await post(http, url, direct(1000, 1000, 1, title="x" * 2201), bearer)
    assert (status, body["error"]["code"]) == (400, "invalid_params")
    inbox_only = {
        "Authorization": f"Bearer {fake.issue_token(scopes=('video.upload',))['access_token']}"
    }
    status, body = await post(http, url, direct(1000, 1000, 1), inbox_only)
    assert (status, body["error"]["code"]) == (401, "scope_not_authorized")
    status, body = await post(http, url, direct(1000, 1000, 1), {"Authorization": "Bearer nope"})
    assert (status, body["error"]["code"]) == (401, "access_token_invalid")
    fake.expire_tokens()
    status, body = await post(http, url, direct(1000, 1000, 1), bearer)
    assert (status, body["error"]["code"]) == (401, "access_token_invalid")


async def test_chunk_put_rules(
    fake: TikTokFake, http: aiohttp.ClientSession, api: str, bearer: dict[str, str]
) -> None:
    fake.configure(min_chunk_size=1000)
    _, body = await post(http, f"{api}/v2/post/publish/video/init/", direct(2500, 1000, 2), bearer)
    upload_url = body["data"]["upload_url"]

    async def put(data: bytes, rng: str | None, ctype: str = "video/mp4") -> int:
        headers = {"Content-Type": ctype}
        if rng:
            headers["Content-Range"] = rng
        async with http.put(upload_url, data=data, headers=headers, allow_redirects=False) as resp:
            return resp.status

    assert await put(b"a" * 1000, None) == 416  # no Content-Range
    assert await put(b"a" * 1000, "bytes 1000-1999/2500") == 416  # out of order
    assert await put(b"a" * 999, "bytes 0-999/2500") == 416  # body does not match the range
    assert await put(b"a" * 1000, "bytes 0-999/2500", "text/plain") == 400
    assert await put(b"a" * 1000, "bytes 0-999/2500") == 206
    assert await put(b"a" * 1000, "bytes 0-999/2500") == 416  # re-sent chunk refused
    assert (
        await put(b"b" * 1000, "bytes 1000-1999/2500") == 416
    )  # the last chunk must take the rest
    assert await put(b"b" * 1500, "bytes 1000-2499/2500") == 201
    snap = fake.snapshot()
    assert (
        snap["uploads"][0]["bytes_received"] == 2500 and snap["uploads"][0]["rejected_chunks"] == 2
    )
    bad = upload_url.replace("upload_token=", "upload_token=x")
    async with http.put(bad, data=b"a", headers={"Content-Range": "bytes 0-0/2500"}) as resp:
        assert resp.status == 404


async def test_status_progression_and_limits(
    fake: TikTokFake, http: aiohttp.ClientSession, api: str, bearer: dict[str, str]
) -> None:
    fake.configure(processing_polls=3, status_per_minute=5)
    _, body = await post(http, f"{api}/v2/post/publish/video/init/", direct(10, 10, 1), bearer)
    publish_id = body["data"]["publish_id"]
    status_url = f"{api}/v2/post/publish/status/fetch/"
    _, st = await post(http, status_url, {"publish_id": publish_id}, bearer)
    assert st["data"] == {
        "status": "PROCESSING_UPLOAD",
        "uploaded_bytes": 0,
        "fail_reason": "",
        "publicaly_available_post_id": [],
    }
    headers = {"Content-Type": "video/mp4", "Content-Range": "bytes 0-9/10"}
    async with http.put(body["data"]["upload_url"], data=b"0123456789", headers=headers) as resp:
        assert resp.status == 201
    seen = []
    for _ in range(3):
        _, st = await post(http, status_url, {"publish_id": publish_id}, bearer)
        seen.append(st["data"]["status"])
    assert seen == ["PROCESSING_UPLOAD", "PROCESSING_UPLOAD", "PUBLISH_COMPLETE"]
    assert st["data"]["uploaded_bytes"] == 10
    assert st["data"]["publicaly_available_post_id"] == [int(fake.snapshot()["videos"][0]["id"])]
    code, st = await post(http, status_url, {"publish_id": publish_id}, bearer)  # fifth: allowed
    assert code == 200
    code, st = await post(http, status_url, {"publish_id": publish_id}, bearer)  # sixth in a minute
    assert (code, st["error"]["code"]) == (429, "rate_limit_exceeded")


async def test_display_api_rules(
    fake: TikTokFake, http: aiohttp.ClientSession, api: str, bearer: dict[str, str]
) -> None:
    ids = [str(i) for i in range(21)]
    code, body = await post(
        http, f"{api}/v2/video/query/?fields=id,view_count", {"filters": {"video_ids": ids}}, bearer
    )
    assert (code, body["error"]["code"]) == (400, "invalid_params")
    code, body = await post(http, f"{api}/v2/video/list/?fields=id", {"max_count": 20}, bearer)
    assert code == 200 and body["data"] == {"videos": [], "cursor": 0, "has_more": False}
    code, body = await post(
        http, f"{api}/v2/video/list/?fields=id,bogus", {"max_count": 20}, bearer
    )
    assert code == 400


async def test_upload_url_dying_on_the_server_twice_is_transient_and_posts_nothing(
    fake: TikTokFake,
    host: SandboxHost,
    ctx: PlatformContext,
    platform: TikTokPlatform,
    video: MediaInfo,
) -> None:
    fake.configure(upload_url_ttl=0)
    with pytest.raises(Transient, match="died twice"):
        await platform.upload(make_request(video), MemorySession(), ctx)
    snap = fake.snapshot()
    assert len(snap["uploads"]) == 2 and snap["posts"] == []
