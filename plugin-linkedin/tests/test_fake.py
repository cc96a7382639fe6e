"""The LinkedIn fake holds clients to LinkedIn's rules (raw HTTP, no plugin code):
a client that passes against it should pass against LinkedIn."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

ORG = "urn:li:organization:2414183"
PART = 64 * 1024  # set in the fake: raw bodies stay small
SIZE = PART + 20_000  # two parts, the last shorter; over the 75 KiB floor


@pytest.fixture
async def rest(sandbox: Any, sandbox_context: Any) -> Any:
    """``(call, base)``: an authorized raw call to the fake, as the page's admin."""
    sandbox.require("linkedin")
    await sandbox.control.clear_faults()
    await sandbox.control.reset("linkedin")
    async with (
        sandbox_context("linkedin", settings={"authors": {"sandbox-account": ORG}}) as kit,
        aiohttp.ClientSession() as http,
    ):
        token = (await kit.ctx.tokens.current()).access_token
        base = f"{sandbox.base_url}/linkedin"
        async with http.post(f"{base}/_sandbox/config", json={"part_size": PART}) as resp:
            assert resp.status == 200

        async def call(
            method: str, path: str, *, version: str | None = "202605", **kwargs: Any
        ) -> tuple[int, Any, Any]:
            headers = {"Authorization": f"Bearer {token}", "X-Restli-Protocol-Version": "2.0.0"}
            if version:
                headers["LinkedIn-Version"] = version
            headers.update(kwargs.pop("headers", {}))
            url = path if "://" in path else base + path
            async with http.request(
                method, aiohttp.client.URL(url, encoded=True), headers=headers, **kwargs
            ) as resp:
                body = await resp.json(content_type=None) if await resp.read() else None
                return resp.status, resp.headers, body

        yield call


async def initialize(call: Any) -> dict[str, Any]:
    body = {"initializeUploadRequest": {"owner": ORG, "fileSizeBytes": SIZE}}
    status, _, data = await call("POST", "/rest/videos?action=initializeUpload", json=body)
    assert status == 200, data
    return dict(data["value"])


async def test_versions_and_restli_rules(rest: Any) -> None:
    status, _, body = await rest("GET", "/rest/videos/x", version=None)
    assert (status, body["code"]) == (400, "VERSION_MISSING")
    status, _, body = await rest("GET", "/rest/videos/x", version="202401")
    assert (status, body["code"]) == (426, "NONEXISTENT_VERSION")
    status, _, body = await rest("GET", "/rest/videos/urn:li:video:x")
    assert status == 400 and "URL-encoded" in body["message"]
    status, _, body = await rest("GET", f"/rest/posts?q=author&author={quote(ORG, safe='')}")
    assert status == 400 and "FINDER" in body["message"]


async def test_parts_etags_and_finalize(rest: Any) -> None:
    value = await initialize(rest)
    parts = value["uploadInstructions"]
    assert [(p["firstByte"], p["lastByte"]) for p in parts] == [(0, PART - 1), (PART, SIZE - 1)]
    assert value["uploadUrlsExpireAt"] > 0 and value["video"].startswith("urn:li:video:")
    status, _, _ = await rest("PUT", parts[1]["uploadUrl"], data=b"x" * 10)
    assert status == 400  # a part is exactly its announced bytes
    etags = []
    for part in parts:
        length = part["lastByte"] - part["firstByte"] + 1
        status, headers, _ = await rest("PUT", part["uploadUrl"], data=b"v" * length)
        assert status == 201 and headers["ETag"].startswith('"')
        etags.append(headers["ETag"])

    async def finalize(ids: list[str]) -> int:
        spec = {
            "video": value["video"],
            "uploadToken": value["uploadToken"],
            "uploadedPartIds": ids,
        }
        status, _, _ = await rest(
            "POST", "/rest/videos?action=finalizeUpload", json={"finalizeUploadRequest": spec}
        )
        return int(status)

    assert await finalize(etags) == 400  # quotes kept
    bare = [e.strip('"') for e in etags]
    assert await finalize(bare[::-1]) == 400  # out of order
    assert await finalize(bare) == 200
    assert await finalize(bare) == 400  # once only


async def test_posts_need_an_available_video_and_are_not_duplicated(rest: Any) -> None:
    value = await initialize(rest)
    ids = []
    for part in value["uploadInstructions"]:
        length = part["lastByte"] - part["firstByte"] + 1
        _, headers, _ = await rest("PUT", part["uploadUrl"], data=b"v" * length)
        ids.append(headers["ETag"].strip('"'))
    spec = {"video": value["video"], "uploadToken": value["uploadToken"], "uploadedPartIds": ids}
    status, _, _ = await rest(
        "POST", "/rest/videos?action=finalizeUpload", json={"finalizeUploadRequest": spec}
    )
    assert status == 200
    post = {
        "author": ORG,
        "commentary": "Budget vote",
        "visibility": "PUBLIC",
        "distribution": {"feedDistribution": "MAIN_FEED"},
        "content": {"media": {"title": "Budget vote", "id": value["video"]}},
        "lifecycleState": "PUBLISHED",
    }
    status, _, body = await rest("POST", "/rest/posts", json=post)
    assert status == 422 and "is not AVAILABLE (PROCESSING)" in body["message"]
    video = quote(value["video"], safe="")
    seen = [(await rest("GET", f"/rest/videos/{video}"))[2]["status"] for _ in range(2)]
    assert seen == ["PROCESSING", "AVAILABLE"]
    status, headers, body = await rest("POST", "/rest/posts", json=post)
    assert status == 201 and body is None
    assert headers["x-restli-id"].startswith("urn:li:ugcPost:")
    status, _, body = await rest("POST", "/rest/posts", json=post)
    assert (
        status == 422 and body["message"] == f"Content is a duplicate of {headers['x-restli-id']}"
    )


async def test_rate_limit_has_no_header(rest: Any, sandbox: Any) -> None:
    await sandbox.control.add_fault("linkedin", "rate_limit", path="^/rest/posts$")
    status, headers, body = await rest("POST", "/rest/posts", json={})
    assert status == 429 and "Retry-After" not in headers
    assert set(body) == {"status", "code", "message"} and body["status"] == 429


async def test_consent_refuses_scopes_the_app_lacks(sandbox: Any) -> None:
    sandbox.require("linkedin")
    await sandbox.control.reset("linkedin")
    base = f"{sandbox.base_url}/linkedin"
    query = {
        "response_type": "code",
        "client_id": "sandbox-client",
        "redirect_uri": "http://127.0.0.1:9/callback",
        "state": "s1",
    }
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/_sandbox/config", json={"app_scopes": ["openid", "w_member_social"]}
        ) as resp:
            assert resp.status == 200
        for scope, outcome in (("openid w_member_social", "code="), ("r_member_social", "error=")):
            async with http.get(
                f"{base}/oauth/v2/authorization",
                params={**query, "scope": scope},
                allow_redirects=False,
            ) as resp:
                location = resp.headers["Location"]
                assert resp.status == 302 and outcome in location and "state=s1" in location
    assert "unauthorized_scope_error" in location
