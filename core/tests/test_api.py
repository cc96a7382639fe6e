"""The REST API against a live server: posts (idempotent), deliveries, queue, manual,
accounts, plugins; API keys, scopes, rate limits, body limits; health and metrics."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pellacia.api.intake import allowed_path
from pellacia.api.keys import ApiKey, parse_scopes
from pellacia.api.limits import RateLimiter
from pellacia.delivery.errors import BadInput
from pellacia.testing.api import LiveApi, api_settings, live_api
from pellacia_testplatform.fake import FakeTestPlatform


@pytest.fixture
def api(pg_dsn: str, testplatform: FakeTestPlatform, tmp_path: Path) -> Iterator[LiveApi]:
    with live_api(api_settings(testplatform, tmp_path, pg_dsn)) as live:
        yield live


def _client(api: LiveApi, scope: str = "admin") -> httpx.Client:
    return httpx.Client(base_url=api.url, headers=api.headers(scope), timeout=30)


def _body(root: Path, video: Path, **fields: Any) -> dict[str, Any]:
    target = root / "in" / "clip.mp4"
    if not target.exists():
        os.link(video, target)
    return {"path": str(target), "platforms": ["testplatform"], "title": "Flood", **fields}


# ------------------------------------------------------------------ pure parts


def test_scopes_nest_and_unknown_ones_are_refused() -> None:
    key = ApiKey(id=__import__("uuid").uuid4(), name="k", scopes=frozenset({"write"}))
    assert key.allows("read") and key.allows("write") and not key.allows("admin")
    assert parse_scopes("read, write") == ["read", "write"]
    with pytest.raises(BadInput, match="scopes are read, write, admin"):
        parse_scopes("read,root")


def test_rate_limiter_allows_a_burst_then_says_how_long_to_wait() -> None:
    limiter = RateLimiter(per_minute=60, burst=2)
    key = __import__("uuid").uuid4()
    assert limiter.take(key, now=0.0) == 0 and limiter.take(key, now=0.0) == 0
    assert limiter.take(key, now=0.0) == pytest.approx(1.0)
    assert limiter.take(key, now=1.0) == 0


def test_server_side_paths_stay_inside_the_allowed_roots(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.mp4").write_bytes(b"x")
    (tmp_path / "secret.mp4").write_bytes(b"x")
    (root / "link.mp4").symlink_to(tmp_path / "secret.mp4")
    assert allowed_path(str(root / "a.mp4"), [root]) == root / "a.mp4"
    with pytest.raises(BadInput, match=r"without '\.\.'"):
        allowed_path(str(root / ".." / "secret.mp4"), [root])
    with pytest.raises(BadInput, match="outside the allowed roots"):
        allowed_path(str(root / "link.mp4"), [root])
    with pytest.raises(BadInput, match="allowed_roots"):
        allowed_path(str(root / "a.mp4"), [])


# ------------------------------------------------------------------ posts


def test_create_with_an_idempotency_key_twice_makes_one_post(
    api: LiveApi, video: Path, tmp_path: Path
) -> None:
    body = _body(tmp_path, video)
    with _client(api, "write") as c:
        first = c.post("/v1/posts", json=body, headers={"Idempotency-Key": "k-1"})
        again = c.post("/v1/posts", json=body, headers={"Idempotency-Key": "k-1"})
        other = c.post(
            "/v1/posts", json={**body, "title": "Other"}, headers={"Idempotency-Key": "k-1"}
        )
        listed = c.get("/v1/posts").json()
    assert first.status_code == 201, first.text
    assert again.status_code == 201 and again.json() == first.json()
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    assert "another request body" in other.json()["detail"]
    assert [p["id"] for p in listed["items"]] == [first.json()["post_id"]]


def test_refusals_carry_the_cli_message_as_problem_json(
    api: LiveApi, video: Path, tmp_path: Path
) -> None:
    body = _body(tmp_path, video)
    with _client(api, "write") as c:
        assert c.post("/v1/posts", json=body).status_code == 201
        dup = c.post("/v1/posts", json=body)
        outside = c.post("/v1/posts", json={**body, "path": str(video)})
        bad_zone = c.post(
            "/v1/posts",
            json={**body, "title": "T2", "at": "2030-01-01 10:00", "timezone": "Mars/X"},
        )
        nul = c.get("/v1/posts", params={"state": "a\x00b"})  # schemathesis found a 500 here
    assert dup.status_code == 400
    problem = dup.json()
    assert problem["status"] == 400 and problem["title"] == "Bad input"
    assert "pass --allow-duplicate to post it again" in problem["detail"]
    assert outside.status_code == 400 and "outside the allowed roots" in outside.json()["detail"]
    assert bad_zone.status_code == 400 and "unknown time zone" in bad_zone.json()["detail"]
    assert nul.status_code == 400 and "NUL" in nul.json()["detail"]


def test_upload_is_streamed_and_idempotent(api: LiveApi, video: Path) -> None:
    meta = json.dumps({"platforms": ["testplatform"], "title": "Uploaded"})
    with _client(api, "write") as c:
        answers = [
            c.post(
                "/v1/posts/upload",
                files={"file": ("clip.mp4", video.read_bytes(), "video/mp4")},
                data={"metadata": meta},
                headers={"Idempotency-Key": "up-1"},
            )
            for _ in range(2)
        ]
        post = c.get(f"/v1/posts/{answers[0].json()['post_id']}").json()
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json() == answers[1].json()
    uploads = list((api.settings.data_dir / "uploads").iterdir())
    assert len(uploads) == 1  # the replay's copy was discarded
    assert post["title"] == "Uploaded" and post["video_size"] == video.stat().st_size


def test_list_pages_with_a_cursor(api: LiveApi, video: Path, tmp_path: Path) -> None:
    body = _body(tmp_path, video)
    with _client(api, "write") as c:
        made = [c.post("/v1/posts", json={**body, "title": f"T{i}"}).json() for i in range(3)]
        page1 = c.get("/v1/posts", params={"limit": 2}).json()
        page2 = c.get("/v1/posts", params={"limit": 2, "cursor": page1["next_cursor"]}).json()
        bad = c.get("/v1/posts", params={"cursor": "nonsense"})
    ids = [p["id"] for p in page1["items"] + page2["items"]]
    assert ids == [m["post_id"] for m in reversed(made)]
    assert page2["next_cursor"] is None
    assert bad.status_code == 400


def test_cancel_retry_schedule_and_queue(api: LiveApi, video: Path, tmp_path: Path) -> None:
    body = _body(tmp_path, video, at="2030-06-01 14:00", timezone="America/New_York")
    with _client(api, "write") as c:
        created = c.post("/v1/posts", json=body).json()
        delivery = created["deliveries"][0]["id"]
        scheduled = c.get("/v1/schedule").json()
        got = c.get(f"/v1/deliveries/{delivery}").json()
        queue = c.get("/v1/queue").json()
        cancelled = c.post(f"/v1/posts/{created['post_id']}/cancel").json()
        retried = c.post(f"/v1/deliveries/{delivery}/retry")
        missing = c.get("/v1/deliveries/00000000-0000-0000-0000-000000000000")
    assert scheduled[0]["scheduled_at"] == "2030-06-01T18:00:00Z"
    assert got["state"] in ("pending", "ready") and got["wait_reason"] == "scheduled"
    assert queue["counts"]["testplatform"]
    assert cancelled == [
        {"delivery_id": delivery, "platform": "testplatform", "outcome": "cancelled"}
    ]
    assert retried.status_code == 400 and "only failed or manual ones are retried" in retried.text
    assert missing.status_code == 404


def test_manual_list_and_resolve_errors(api: LiveApi) -> None:
    with _client(api, "write") as c:
        assert c.get("/v1/manual").json() == []
        nope = c.post(
            "/v1/manual/00000000-0000-0000-0000-000000000000/resolve",
            json={"post_url": "https://youtu.be/abc"},
        )
        package = c.get("/v1/manual/00000000-0000-0000-0000-000000000000/package")
    assert nope.status_code == 404 and package.status_code == 404


def test_accounts_plugins_and_routes(api: LiveApi) -> None:
    with _client(api, "read") as c:
        accounts = c.get("/v1/accounts")
        plugins = c.get("/v1/plugins").json()
        routes = c.get("/v1/routes").json()
    assert accounts.status_code == 200 and accounts.json() == []
    assert {"name": "direct", "kind": "direct", "installed": True, "last_24h": {}} in routes
    assert "testplatform" in {p["name"] for p in plugins}


# ------------------------------------------------------------------ keys and limits


def test_keys_are_required_and_scoped(api: LiveApi) -> None:
    with httpx.Client(base_url=api.url) as c:
        none = c.get("/v1/posts")
        wrong = c.get("/v1/posts", headers={"X-API-Key": "pd_00000000_nope"})
        reader = c.post("/v1/posts", json={}, headers=api.headers("read"))
        metrics = c.get("/metrics", headers=api.headers("write"))
        health = c.get("/healthz")
    assert none.status_code == 401 and none.headers["content-type"] == "application/problem+json"
    assert wrong.status_code == 401
    assert reader.status_code == 403 and "'write' scope" in reader.json()["detail"]
    assert metrics.status_code == 403
    assert health.status_code == 200


def test_rate_limit_answers_429_with_retry_after(
    pg_dsn: str, testplatform: FakeTestPlatform, tmp_path: Path
) -> None:
    settings = api_settings(testplatform, tmp_path, pg_dsn, rate_per_minute=1, rate_burst=2)
    with live_api(settings) as live, _client(live, "read") as c:
        codes = [c.get("/v1/plugins") for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert int(codes[2].headers["Retry-After"]) >= 1


def test_bodies_over_the_limit_are_refused(
    pg_dsn: str, testplatform: FakeTestPlatform, tmp_path: Path
) -> None:
    settings = api_settings(testplatform, tmp_path, pg_dsn, max_body_bytes=1000)
    with live_api(settings) as live, _client(live, "write") as c:
        big = c.post("/v1/posts", json={"path": "x" * 2000, "platforms": ["a"]})
    assert big.status_code == 413 and big.json()["detail"] == "the limit is 1000 bytes"


# ------------------------------------------------------------------ health, metrics, docs


def test_health_ready_metrics_and_offline_docs(api: LiveApi, video: Path, tmp_path: Path) -> None:
    with _client(api, "admin") as c:
        c.post("/v1/posts", json=_body(tmp_path, video))
        ready = c.get("/readyz").json()
        metrics = c.get("/metrics")
        docs = c.get("/docs").text
        asset = c.get("/docs-assets/swagger-ui-bundle.js")
    assert ready["status"] == "ok" and ready["checks"]["database"] == "ok"
    assert 'pellacia_deliveries{platform="testplatform",state=' in metrics.text
    assert 'pellacia_api_requests_total{method="POST",route="/v1/posts",status="201"} 1.0' in (
        metrics.text
    )
    assert 'pellacia_events{kind="delivery.state"} 1.0' in metrics.text
    assert "/docs-assets/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert asset.status_code == 200 and len(asset.content) > 100_000


def test_api_key_cli_shows_the_key_once_and_revokes(
    pg_dsn: str, testplatform: FakeTestPlatform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner
    from pellacia.cli.main import cli

    monkeypatch.setenv("PELLACIA_DATABASE_URL", pg_dsn)
    monkeypatch.setenv("PELLACIA_DATA_DIR", str(tmp_path))
    run = CliRunner().invoke
    made = run(cli, ["api-key", "create", "--name", "dash", "--scopes", "read,write", "--json"])
    assert made.exit_code == 0, made.output
    key = json.loads(made.output)["key"]
    listed = run(cli, ["api-key", "list", "--json"]).output
    assert key not in listed and json.loads(listed)[0]["scopes"] == ["read", "write"]
    bad = run(cli, ["api-key", "create", "--name", "x", "--scopes", "root"])
    assert bad.exit_code == 2 and "scopes are read, write, admin" in bad.output
    assert run(cli, ["api-key", "revoke", "dash"]).output.startswith("revoked dash")
    assert run(cli, ["api-key", "revoke", "dash"]).exit_code == 2
    settings = api_settings(testplatform, tmp_path, pg_dsn)
    with live_api(settings) as live, httpx.Client(base_url=live.url) as c:
        assert c.get("/v1/plugins", headers={"X-API-Key": key}).status_code == 401


def test_webhooks_through_the_api_and_the_cli(
    api: LiveApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from click.testing import CliRunner
    from pellacia.cli.main import cli

    with _client(api, "admin") as c:
        made = c.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": []})
        refused = c.post("/v1/webhooks", json={"url": "http://example.org/hook"})
        ping = c.post(f"/v1/webhooks/{made.json()['id']}/test").json()
        listed = c.get("/v1/webhooks").json()
        assert c.delete(f"/v1/webhooks/{made.json()['id']}").status_code == 204
        assert c.get("/v1/webhooks").json() == []
    assert made.status_code == 201 and made.json()["secret"].startswith("whsec_")
    assert refused.status_code == 400 and "allowed_hosts" in refused.json()["detail"]
    assert ping["status"] is None and "Connect" in ping["error"]  # nothing listens on :9
    assert listed[0]["url"] == "http://127.0.0.1:9/hook" and "secret" not in listed[0]
    monkeypatch.setenv("PELLACIA_DATABASE_URL", api.settings.database_url.get_secret_value())
    monkeypatch.setenv("PELLACIA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PELLACIA_WEBHOOKS__ALLOWED_HOSTS", '["127.0.0.1"]')
    run = CliRunner().invoke
    added = run(cli, ["webhook", "add", "http://127.0.0.1:9/h", "--json"])
    assert added.exit_code == 0, added.output
    hook_id = json.loads(added.output)["id"]
    assert run(cli, ["webhook", "test", hook_id]).exit_code == 1
    assert "http://127.0.0.1:9/h" in run(cli, ["webhook", "list"]).output
    assert run(cli, ["webhook", "remove", hook_id]).exit_code == 0
    assert run(cli, ["webhook", "remove", hook_id]).exit_code == 2


async def test_event_stream_resumes_after_last_event_id(
    api: LiveApi, video: Path, tmp_path: Path
) -> None:
    async def read(headers: dict[str, str], params: dict[str, Any], n: int) -> list[str]:
        ids: list[str] = []
        async with (
            httpx.AsyncClient(base_url=api.url, headers=api.headers("read"), timeout=30) as c,
            c.stream("GET", "/v1/events/stream", headers=headers, params=params) as answer,
        ):
            assert answer.headers["content-type"].startswith("text/event-stream")
            async for line in answer.aiter_lines():
                if line.startswith("id: "):
                    ids.append(line[4:])
                if len(ids) == n:
                    return ids
        return ids

    async with httpx.AsyncClient(base_url=api.url, headers=api.headers("write")) as c:
        body = _body(tmp_path, video)
        created = (await c.post("/v1/posts", json=body)).json()
        await c.post(f"/v1/posts/{created['post_id']}/cancel")
    both = await read({}, {"after": 0}, 2)  # created, cancelled
    rest = await read({"Last-Event-ID": both[0]}, {}, 1)
    assert rest == [both[1]] and int(both[1]) > int(both[0])


async def test_concurrent_creates_with_one_key_make_one_post(
    api: LiveApi, video: Path, tmp_path: Path
) -> None:
    import asyncio

    body = _body(tmp_path, video)
    async with httpx.AsyncClient(base_url=api.url, headers=api.headers("write"), timeout=60) as c:
        answers = await asyncio.gather(
            *(c.post("/v1/posts", json=body, headers={"Idempotency-Key": "race"}) for _ in range(5))
        )
        listed = (await c.get("/v1/posts")).json()["items"]
    assert [a.status_code for a in answers] == [201] * 5
    assert len({a.json()["post_id"] for a in answers}) == 1 and len(listed) == 1
