"""``lose_response`` with ``on_status``: only answers of those statuses are lost,
and only they count. This is how the kit loses the one answer of an upload that
creates the post (its last chunk's 200) among chunks sharing its path (308s)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from pellacia_sandbox.control import SandboxControl, SandboxControlError
from pellacia_sandbox.fakes.base import Grant
from pellacia_sandbox.host import SandboxHost


@pytest.fixture
async def host() -> AsyncIterator[SandboxHost]:
    async with SandboxHost(port=0, only={"example"}, plugins=False) as running:
        yield running


async def test_only_answers_with_the_status_are_lost(host: SandboxHost) -> None:
    control = SandboxControl(host.base_url)
    await control.add_fault(
        "example", "lose_response", path="^/v1/uploads", on_status=[201], skip=1
    )
    connector = aiohttp.TCPConnector(force_close=True)  # a drop must reach us, not be retried
    async with aiohttp.ClientSession(connector=connector) as http:
        url = f"{host.base_url}/example/v1/uploads"
        # no token: 401, not 201 -- it goes out, and neither skips nor hits the rule
        async with http.post(url, json={"size": 1}) as r:
            assert r.status == 401
        (rule,) = await control.faults()
        assert rule["skip"] == 1 and rule["hits"] == 0
        assert host.state("example")["requests"][-1]["fault"] is None
    # a 201 with skip=1 left: this one goes out and uses the skip; the next is lost
    fake = host.fake("example")
    token = fake.tokens.issue(Grant(account="a", client_id="c"))  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {token.access_token}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        async with http.post(url, json={"size": 1}, headers=headers) as r:
            assert r.status == 201
        with pytest.raises(aiohttp.ServerDisconnectedError):
            async with http.post(url, json={"size": 1}, headers=headers) as r:
                await r.read()
    (rule,) = await control.faults()
    assert rule["hits"] == 1 and rule["remaining"] == 0
    assert host.state("example")["requests"][-1]["fault"] == "lose_response"
    assert len(host.state("example")["uploads"]) == 2  # the lost one was made all the same


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "server_error", "on_status": [200]},
        {"kind": "lose_response", "on_status": 200},
        {"kind": "lose_response", "on_status": []},
        {"kind": "lose_response", "on_status": ["200"]},
    ],
)
async def test_on_status_is_checked(host: SandboxHost, spec: dict[str, object]) -> None:
    control = SandboxControl(host.base_url)
    with pytest.raises(SandboxControlError, match="on_status"):
        await control.add_fault("example", **spec)  # type: ignore[arg-type]
