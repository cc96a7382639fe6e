"""The sandbox host: fault injection observed from a real aiohttp client, control API,
token store, loopback-only binding. Runs against the example platform's fake."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from pellacia_sandbox.control import SandboxControl, SandboxControlError
from pellacia_sandbox.fakes.base import TokenError, TokenStore, pkce_challenge
from pellacia_sandbox.faults import FaultTable
from pellacia_sandbox.host import NotLoopback, SandboxHost, check_loopback

VERIFIER = "v" * 50


@pytest.fixture(scope="module")
async def host() -> AsyncIterator[SandboxHost]:
    async with SandboxHost(
        port=0, only={"example", "ghost"}, extra={"ghost": "pellacia_sandbox.fakes.ghost:Ghost"}
    ) as running:
        yield running


@pytest.fixture
async def http(host: SandboxHost) -> AsyncIterator[aiohttp.ClientSession]:
    host.reset()
    # A fresh connection per request: a fault that kills the connection must
    # reach the client, not be absorbed by aiohttp's retry of a reused one.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def sign_in(http: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    """Tokens of the example fake through its authorize and token endpoints."""
    params = {
        "client_id": "cid",
        "redirect_uri": "http://127.0.0.1:9/cb",
        "state": "s1",
        "scope": "video.upload video.read",
        "code_challenge": pkce_challenge(VERIFIER),
        "code_challenge_method": "S256",
    }
    async with http.get(
        f"{base}/example/oauth/authorize", params=params, allow_redirects=False
    ) as r:
        assert r.status == 302
        query = parse_qs(urlsplit(r.headers["Location"]).query)
    assert query["state"] == ["s1"]
    form = {
        "grant_type": "authorization_code",
        "client_id": "cid",
        "client_secret": "secret",
        "code": query["code"][0],
        "redirect_uri": "http://127.0.0.1:9/cb",
        "code_verifier": VERIFIER,
    }
    async with http.post(f"{base}/example/oauth/token", data=form) as r:
        assert r.status == 200, await r.text()
        tokens: dict[str, Any] = await r.json()
    assert tokens["scope"] == "video.upload video.read"
    return tokens


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def init_upload(
    http: aiohttp.ClientSession, host: SandboxHost, tokens: dict[str, Any]
) -> aiohttp.ClientResponse:
    return await http.post(
        f"{host.base_url}/example/v1/uploads", json={"size": 100_000}, headers=bearer(tokens)
    )


async def add_fault(http: aiohttp.ClientSession, host: SandboxHost, **spec: Any) -> int:
    async with http.post(f"{host.base_url}/_control/faults", json=spec) as r:
        assert r.status == 200, await r.text()
        return int((await r.json())["id"])


# ------------------------------------------------------------------- status


async def test_status_names_loaded_and_skipped_fakes(
    host: SandboxHost, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{host.base_url}/_control/status") as r:
        status = await r.json()
    assert status["fakes"] == {"example": f"{host.base_url}/example"}
    assert "not available" in status["skipped"]["ghost"]
    assert host.base_url.startswith("http://127.0.0.1:")


# ------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("server_error", 503, "server_error"),
        ("rate_limit", 429, "rate_limited"),
        ("quota", 403, "quota_exceeded"),
        ("auth", 401, "invalid_token"),
        ("challenge", 403, "account_review"),
    ],
)
async def test_native_error_faults_answer_in_the_platform_shape_without_the_handler(
    host: SandboxHost, http: aiohttp.ClientSession, kind: str, status: int, code: str
) -> None:
    tokens = await sign_in(http, host.base_url)
    await add_fault(http, host, platform="example", kind=kind, path="^/v1/uploads$", retry_after=42)
    async with await init_upload(http, host, tokens) as r:
        assert r.status == status
        assert (await r.json())["error"]["code"] == code
        if kind == "rate_limit":
            assert r.headers["Retry-After"] == "42"
    state = host.state("example")
    assert state["uploads"] == []  # the handler never ran
    assert state["requests"][-1]["fault"] == kind
    async with await init_upload(http, host, tokens) as r:  # times=1: next one passes
        assert r.status == 201


async def test_skip_times_method_and_path_select_requests(
    host: SandboxHost, http: aiohttp.ClientSession
) -> None:
    tokens = await sign_in(http, host.base_url)
    await add_fault(
        http,
        host,
        platform="example",
        kind="status",
        status=418,
        method="post",
        path="/v1/uploads",
        skip=1,
        times=2,
        body={"teapot": True},
    )
    statuses = []
    for _ in range(4):
        async with await init_upload(http, host, tokens) as r:
            statuses.append(r.status)
            if r.status == 418:
                assert await r.json() == {"teapot": True}
    assert statuses == [201, 418, 418, 201]
    async with http.get(f"{host.base_url}/example/v1/posts", headers=bearer(tokens)) as r:
        assert r.status == 200  # GET never matched the POST-only rule
    async with http.get(f"{host.base_url}/_control/faults") as r:
        (rule,) = (await r.json())["faults"]
    assert rule["remaining"] == 0 and rule["hits"] == 2


async def test_reset_fault_drops_the_connection_mid_body(
    host: SandboxHost, http: aiohttp.ClientSession
) -> None:
    tokens = await sign_in(http, host.base_url)
    await add_fault(http, host, platform="example", kind="reset", after_bytes=1000)
    with pytest.raises(aiohttp.ClientError):
        async with http.post(
            f"{host.base_url}/example/v1/uploads", data=b"x" * 500_000, headers=bearer(tokens)
        ) as r:
            await r.read()
    last = host.state("example")["requests"][-1]
    assert last["fault"] == "reset"
    assert last["bytes_before_reset"] == 1000
    assert host.state("example")["uploads"] == []


async def test_lose_response_runs_the_handler_then_drops_the_answer(
    host: SandboxHost, http: aiohttp.ClientSession
) -> None:
    tokens = await sign_in(http, host.base_url)
    await add_fault(http, host, platform="example", kind="lose_response", path="^/v1/uploads$")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with await init_upload(http, host, tokens) as r:
            await r.read()
    assert len(host.state("example")["uploads"]) == 1  # it happened; the client never knew


async def test_delay_fault_holds_the_request(
    host: SandboxHost, http: aiohttp.ClientSession
) -> None:
    tokens = await sign_in(http, host.base_url)
    await add_fault(http, host, platform="example", kind="delay", seconds=0.3)
    started = time.monotonic()
    async with await init_upload(http, host, tokens) as r:
        assert r.status == 201
    assert time.monotonic() - started >= 0.3


async def test_invalid_fault_rules_are_refused(
    host: SandboxHost, http: aiohttp.ClientSession
) -> None:
    bad = [
        ({"platform": "example", "kind": "explode"}, 400),
        ({"platform": "example", "kind": "delay", "seconds": 3600}, 400),
        ({"platform": "example", "kind": "status"}, 400),
        ({"platform": "example", "kind": "auth", "path": "("}, 400),
        ({"platform": "example", "kind": "auth", "times": 0}, 400),
        ({"platform": "example", "kind": "auth", "probability": 0}, 400),
        ({"platform": "example", "kind": "auth", "probability": 1.5}, 400),
        ({"platform": "nowhere", "kind": "auth"}, 404),
    ]
    for spec, status in bad:
        async with http.post(f"{host.base_url}/_control/faults", json=spec) as r:
            assert r.status == status, spec
            assert "error" in await r.json()
    assert host.faults.to_json() == []


def test_probability_faults_a_share_of_matching_requests() -> None:
    table = FaultTable(random.Random(7))
    rule = table.add(
        {"platform": "example", "kind": "server_error", "times": None, "probability": 0.1}
    )
    fired = sum(table.take("example", "PUT", "/upload") is not None for _ in range(5000))
    assert 400 <= fired <= 600 and rule.hits == fired
    assert table.to_json()[0]["probability"] == 0.1
    assert table.take("other", "PUT", "/upload") is None


# ------------------------------------------------------------ tokens, clock


async def test_expire_tokens_then_refresh_rotates(
    host: SandboxHost, http: aiohttp.ClientSession
) -> None:
    tokens = await sign_in(http, host.base_url)
    async with http.post(f"{host.base_url}/_control/example/expire-tokens") as r:
        assert r.status == 200
    async with await init_upload(http, host, tokens) as r:
        assert r.status == 401
    form = {
        "grant_type": "refresh_token",
        "client_id": "cid",
        "client_secret": "secret",
        "refresh_token": tokens["refresh_token"],
    }
    async with http.post(f"{host.base_url}/example/oauth/token", data=form) as r:
        fresh = await r.json()
    assert fresh["refresh_token"] != tokens["refresh_token"]
    async with await init_upload(http, host, fresh) as r:
        assert r.status == 201
    async with http.post(f"{host.base_url}/example/oauth/token", data=form) as r:
        assert r.status == 400  # the rotated-out refresh token is dead


async def test_clock_advance_expires_tokens(host: SandboxHost, http: aiohttp.ClientSession) -> None:
    tokens = await sign_in(http, host.base_url)
    control = SandboxControl(host.base_url)
    before = host.clock.now()
    moved = await control.advance_clock(tokens["expires_in"] + 1)
    assert moved["offset"] >= tokens["expires_in"] + 1
    assert (host.clock.now() - before).total_seconds() >= tokens["expires_in"]
    async with await init_upload(http, host, tokens) as r:
        assert r.status == 401


def test_token_store_checks_pkce_and_client() -> None:
    from pellacia_sandbox.clock import SandboxClock

    store = TokenStore(SandboxClock())
    code = store.issue_code(
        client_id="a", redirect_uri="http://127.0.0.1/cb", code_challenge=pkce_challenge("right")
    )
    with pytest.raises(TokenError):
        store.redeem_code(code, client_id="a", code_verifier="wrong")
    code = store.issue_code(client_id="a", redirect_uri=None, code_challenge=pkce_challenge("r"))
    with pytest.raises(TokenError):
        store.redeem_code(code, client_id="b", code_verifier="r")
    code = store.issue_code(client_id="a", redirect_uri=None, code_challenge=pkce_challenge("r"))
    issued = store.redeem_code(code, client_id="a", code_verifier="r")
    assert store.validate(issued.access_token) is not None
    with pytest.raises(TokenError):  # codes are single-use
        store.redeem_code(code, client_id="a", code_verifier="r")


# --------------------------------------------------------- control client


async def test_control_client_round_trip(host: SandboxHost) -> None:
    control = SandboxControl(host.base_url)
    fault_id = await control.add_fault("example", "server_error", path="^/v1/posts$", times=None)
    (listed,) = await control.faults()
    assert listed["id"] == fault_id and listed["remaining"] is None
    await control.remove_fault(fault_id)
    assert await control.faults() == []
    await control.add_fault("example", "auth")
    await control.reset()  # every fake, and the faults
    assert await control.faults() == []
    state = await control.state("example")
    assert state["posts"] == [] and state["requests"] == []
    with pytest.raises(SandboxControlError, match="404"):
        await control.state("nowhere")
    assert (await control.status())["fakes"]["example"].endswith("/example")


# ------------------------------------------------------------------ binding


@pytest.mark.parametrize("address", ["0.0.0.0", "10.1.2.3", "::", "example.org"])
def test_non_loopback_addresses_are_refused(address: str) -> None:
    with pytest.raises(NotLoopback):
        check_loopback(address)
    with pytest.raises(NotLoopback):
        SandboxHost(host=address)


def test_loopback_addresses_are_accepted() -> None:
    assert check_loopback("127.0.0.1") == "127.0.0.1"
    assert check_loopback("localhost") == "127.0.0.1"
    assert check_loopback("::1") == "::1"


async def test_request_log_masks_credentials_in_query_strings(
    host: SandboxHost, http: aiohttp.ClientSession
) -> None:
    url = f"{host.base_url}/example/v1/posts?access_token=SECRET-TOKEN-1&client_ref=abc"
    async with http.get(url) as r:
        assert r.status == 401
    control = SandboxControl(host.base_url)
    text = str(await control.state("example"))
    assert "SECRET-TOKEN-1" not in text
    assert host.state("example")["requests"][-1]["query"] == "access_token=***&client_ref=abc"
