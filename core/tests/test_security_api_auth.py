"""Every route of the API needs a key, and a key of the scope it must have:
no key (or an unknown one) → 401, a read key on anything that changes state →
403, a write key on the admin routes → 403. The routes are read from the app's
OpenAPI document and its route table, so an endpoint added later is covered
without touching this test, and one added without a key fails it unless it is
deliberately public."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pellacia.api.app import create_app
from pellacia.plugins import load_plugins
from pellacia.testing.api import LiveApi, api_settings, live_api
from pellacia_testplatform.fake import FakeTestPlatform
from starlette.routing import Route

#: routes that answer without a key whatever the config says: the spec and its docs pages
ALWAYS_PUBLIC = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
#: public by default (``[api] public_health``), keyed when the config says so
HEALTH = {"/healthz", "/readyz"}
#: what only an admin key may reach, whatever the method
ADMIN_ONLY = re.compile(r"^/v1/webhooks|^/metrics$")
ZERO_ID = "00000000-0000-0000-0000-000000000000"


def operations(settings: Any) -> list[tuple[str, str]]:
    """(method, path) of every operation of the app built from ``settings``: its
    OpenAPI document's, plus the plain routes the document leaves out."""
    app = create_app(settings, load_plugins())
    found = {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    for route in app.routes:
        if isinstance(route, Route) and route.methods:
            found |= {(m, route.path) for m in route.methods - {"HEAD", "OPTIONS"}}
    return sorted(found)


def status(c: httpx.Client, method: str, path: str, key: str | None = None) -> int:
    """The status of one request, without reading the body (the event stream never ends)."""
    url = re.sub(r"\{[^}]+\}", ZERO_ID, path)
    headers = {"X-API-Key": key} if key else {}
    with c.stream(method, url, headers=headers) as answer:
        return answer.status_code


@pytest.fixture
def live(pg_dsn: str, testplatform: FakeTestPlatform, tmp_path: Path) -> Iterator[LiveApi]:
    settings = api_settings(
        testplatform, tmp_path, pg_dsn, public_health=False, public_metrics=False
    )
    with live_api(settings) as api:
        yield api


def test_every_route_needs_a_key_of_its_scope(live: LiveApi) -> None:
    table = operations(live.settings)
    keyed = [(m, p) for m, p in table if p not in ALWAYS_PUBLIC]
    refused_read = refused_write = 0
    with httpx.Client(base_url=live.url, timeout=10) as c:
        for method, path in keyed:
            assert status(c, method, path) == 401, (method, path)
            assert status(c, method, path, "pd_00000000_not-a-key") == 401, (method, path)
            read = status(c, method, path, live.keys["read"])
            write = status(c, method, path, live.keys["write"])
            if method != "GET" or ADMIN_ONLY.match(path):
                assert read == 403, (method, path, read)
                refused_read += 1
            if ADMIN_ONLY.match(path):
                assert write == 403, (method, path, write)
                refused_write += 1
            assert status(c, method, path, live.keys["admin"]) not in (401, 403), (method, path)
        for path in ALWAYS_PUBLIC:
            assert status(c, "GET", path) == 200, path
    # a check of nothing proves nothing: the table holds the routes we know of
    known = {("POST", "/v1/posts"), ("GET", "/v1/queue"), ("DELETE", "/v1/webhooks/{hook_id}")}
    assert known <= set(table) and len(keyed) >= 20, table
    assert refused_read >= 8 and refused_write >= 4, (refused_read, refused_write)
    assert HEALTH | {"/metrics"} <= {p for _m, p in keyed}


def test_only_health_is_public_by_default(
    pg_dsn: str, testplatform: FakeTestPlatform, tmp_path: Path
) -> None:
    settings = api_settings(testplatform, tmp_path, pg_dsn)
    with live_api(settings) as live, httpx.Client(base_url=live.url, timeout=10) as c:
        public = {p for m, p in operations(settings) if status(c, m, p) not in (401, 405)}
        assert public == ALWAYS_PUBLIC | HEALTH, public
        assert status(c, "GET", "/metrics", live.keys["write"]) == 403
