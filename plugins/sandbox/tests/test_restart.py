"""A sandbox outage: the listener goes down and comes back on the same port with
every fake's state (uploads, tokens, faults, request log) intact, as a
platform's outage keeps its data."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from pellacia_sandbox.fakes.base import Grant
from pellacia_sandbox.thread import ThreadedSandbox


def _call(url: str, token: str = "", body: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        data: dict[str, Any] = json.loads(resp.read())
        return data


def test_go_down_refuses_connections_and_come_up_keeps_state_and_port() -> None:
    sandbox = ThreadedSandbox(port=0, only={"example"})
    with sandbox as host:
        url = host.base_url
        fake = host.fake("example")
        token = fake.tokens.issue(Grant(account="alice", client_id="cid")).access_token  # type: ignore[attr-defined]
        upload = _call(f"{url}/example/v1/uploads", token, {"size": 1000})
        host.faults.add({"platform": "example", "kind": "delay", "seconds": 0, "times": None})
        logged = len(fake.requests)

        sandbox.go_down()
        with pytest.raises(urllib.error.URLError):
            _call(f"{url}/_control/status")
        sandbox.come_up()

        assert host.base_url == url
        again = _call(f"{url}/example/v1/uploads/{upload['upload_id']}", token)
        assert again["upload_id"] == upload["upload_id"]
        assert host.fake("example") is fake
        assert len(host.faults.to_json()) == 1
        assert len(fake.requests) == logged + 1
