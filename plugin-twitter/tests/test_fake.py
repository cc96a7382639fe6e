"""The X fake keeps X's rules: segments, sizes, processing, headers, error bodies, auth."""

from __future__ import annotations

import base64
import io
from typing import Any

import aiohttp
import pytest
from pellacia_sandbox.fakes.twitter import TwitterFake


async def call(
    http: aiohttp.ClientSession, fake: TwitterFake, method: str, path: str, token: str, **kw: Any
) -> tuple[int, Any, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.request(method, f"{fake.base_url}{path}", headers=headers, **kw) as resp:
        body = await resp.json(content_type=None) if resp.status != 204 else None
        return resp.status, body, resp.headers


def segment(index: int, data: bytes) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("segment_index", str(index))
    form.add_field(
        "media", io.BytesIO(data), filename="blob", content_type="application/octet-stream"
    )
    return form


async def init(http: aiohttp.ClientSession, fake: TwitterFake, token: str, total: int) -> str:
    body = {"media_type": "video/mp4", "total_bytes": total, "media_category": "amplify_video"}
    status, answer, headers = await call(
        http, fake, "POST", "/2/media/upload/initialize", token, json=body
    )
    assert status == 200 and headers["x-rate-limit-limit"] == "1875"
    assert (
        int(headers["x-rate-limit-remaining"]) == 1874 and headers["x-rate-limit-reset"].isdigit()
    )
    assert answer["data"]["media_key"] == f"13_{answer['data']['id']}"
    return str(answer["data"]["id"])


async def test_segment_rules(fake: TwitterFake, http: aiohttp.ClientSession) -> None:
    token = fake.issue_token()["access_token"]
    media_id = await init(http, fake, token, 10)
    append = f"/2/media/upload/{media_id}/append"
    assert (await call(http, fake, "POST", append, token, data=segment(1000, b"x")))[0] == 400
    assert (await call(http, fake, "POST", append, token, data=segment(0, b"x" * 11)))[0] == 400
    assert (await call(http, fake, "POST", append, token, data=segment(1, b"67890")))[0] == 200
    finalize = f"/2/media/upload/{media_id}/finalize"
    status, problem, _ = await call(http, fake, "POST", finalize, token)
    assert status == 400 and problem["type"].endswith("/invalid-request")  # segment 0 missing
    encoded = base64.b64encode(b"12345").decode()  # the JSON form of APPEND
    json_append = {"media": encoded, "segment_index": 0}
    assert (await call(http, fake, "POST", append, token, json=json_append))[0] == 200
    status, answer, _ = await call(http, fake, "POST", finalize, token)
    assert status == 200 and answer["data"]["processing_info"]["state"] == "pending"
    [upload] = fake.snapshot()["uploads"]
    assert upload["sha256"] == __import__("hashlib").sha256(b"1234567890").hexdigest()


async def test_segment_of_more_than_5_000_000_bytes_is_refused(
    fake: TwitterFake, http: aiohttp.ClientSession
) -> None:
    token = fake.issue_token()["access_token"]
    media_id = await init(http, fake, token, 6_000_000)
    big = segment(0, b"\0" * 5_000_001)  # 5 MiB would pass; 5 MB is the rule under both readings
    assert (await call(http, fake, "POST", f"/2/media/upload/{media_id}/append", token, data=big))[
        0
    ] == 400


async def test_errors_are_problem_json(fake: TwitterFake, http: aiohttp.ClientSession) -> None:
    status, problem, _ = await call(http, fake, "GET", "/2/users/me", "not-a-token")
    assert status == 401 and problem == {
        "title": "Unauthorized", "detail": "Unauthorized", "type": "about:blank", "status": 401
    }  # fmt: skip
    token = fake.issue_token()["access_token"]
    status, problem, _ = await call(
        http, fake, "GET", "/2/media/upload", token, params={"command": "STATUS", "media_id": "1"}
    )
    assert status == 404 and problem["type"] == "https://api.x.com/2/problems/resource-not-found"
    capped = fake.native_error("quota")
    assert capped.status == 429 and b"usage-capped" in (capped.body or b"")  # type: ignore[operator]


async def test_lookup_answers_200_with_errors_beside_data(
    fake: TwitterFake, http: aiohttp.ClientSession
) -> None:
    mine = fake.issue_token()["access_token"]
    other = fake.issue_token("someone-else")["access_token"]
    status, created, _ = await call(http, fake, "POST", "/2/tweets", mine, json={"text": "hello"})
    assert status == 201 and created["data"]["edit_history_tweet_ids"] == [created["data"]["id"]]
    ids = f"{created['data']['id']},1900000000000099999"
    params = {"ids": ids, "tweet.fields": "public_metrics,non_public_metrics"}
    status, body, _ = await call(http, fake, "GET", "/2/tweets", other, params=params)
    assert status == 200 and [t["id"] for t in body["data"]] == [created["data"]["id"]]
    kinds = sorted(e["type"].rsplit("/", 1)[-1] for e in body["errors"])
    assert kinds == ["not-authorized-for-field", "resource-not-found"]
    assert "non_public_metrics" not in body["data"][0]
    metrics = body["data"][0]["public_metrics"]
    assert metrics["retweet_count"] == metrics["repost_count"]


async def test_no_refresh_token_without_offline_access(
    fake: TwitterFake, http: aiohttp.ClientSession
) -> None:
    from pellacia_sandbox.fakes.base import pkce_challenge

    query = {
        "response_type": "code", "client_id": "native-app", "redirect_uri": "http://127.0.0.1:9/cb",
        "scope": "tweet.read users.read", "state": "s", "code_challenge": pkce_challenge("v" * 43),
        "code_challenge_method": "S256",
    }  # fmt: skip
    async with http.get(
        f"{fake.base_url}/i/oauth2/authorize", params=query, allow_redirects=False
    ) as resp:
        code = resp.headers["Location"].split("code=")[1].split("&")[0]
    form = {  # a public client: client_id in the form, no secret
        "grant_type": "authorization_code", "code": code, "client_id": "native-app",
        "redirect_uri": "http://127.0.0.1:9/cb", "code_verifier": "v" * 43,
    }  # fmt: skip
    async with http.post(f"{fake.base_url}/2/oauth2/token", data=form) as resp:
        body = await resp.json()
    assert resp.status == 200 and "refresh_token" not in body and body["expires_in"] == 7200


@pytest.mark.parametrize("path", ["/2/media/upload", "/1.1/media/upload.json"])
async def test_single_endpoint_commands(
    fake: TwitterFake, http: aiohttp.ClientSession, path: str
) -> None:
    token = fake.issue_token()["access_token"]
    form = {"command": "INIT", "total_bytes": "3", "media_type": "video/mp4"}
    status, answer, _ = await call(http, fake, "POST", path, token, data=form)
    media = answer.get("data") or answer
    media_id = str(media.get("id") or media.get("media_id_string"))
    data = aiohttp.FormData()
    for key, value in (("command", "APPEND"), ("media_id", media_id), ("segment_index", "0")):
        data.add_field(key, value)
    data.add_field("media", b"abc", filename="blob")
    assert (await call(http, fake, "POST", path, token, data=data))[0] == 204
    status, answer, _ = await call(
        http, fake, "POST", path, token, data={"command": "FINALIZE", "media_id": media_id}
    )
    assert status == 200 and (answer.get("data") or answer)["size"] == 3
