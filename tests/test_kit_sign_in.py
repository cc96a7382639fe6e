"""The kit signs in through whatever kind a platform declares, handing the flow
the sandbox's OAuth client only when it needs one (as core does), with
``SANDBOX_CREDENTIALS`` unless the kit subclass says otherwise."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pellacia.contract import NO_CLIENT
from pellacia.testing.context import SANDBOX_CLIENT, kit_credentials, open_platform_context

SITE = Path(__file__).resolve().parent / "plugins" / "kinds-site"
sys.path.insert(0, str(SITE))
try:
    from pellacia_testkinds.fake import KindsFake
    from pellacia_testkinds.platforms import PLATFORMS
finally:
    sys.path.remove(str(SITE))

BY_NAME = {p.name: p for p in PLATFORMS}
#: what the kinds fake accepts (its user is alice)
CREDENTIALS = {"password": "s3cret", "token": "short-1", "api_key": "key-1"}


@pytest.fixture
async def fake() -> AsyncIterator[KindsFake]:
    server = KindsFake()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("name", "client", "grant"),
    [
        ("kinds_password", NO_CLIENT, "password"),
        ("kinds_client", SANDBOX_CLIENT, "client_credentials"),
        ("kinds_exchange", SANDBOX_CLIENT, "exchange_token"),
        ("kinds_apikey", NO_CLIENT, None),
    ],
)
async def test_every_kind_signs_in_with_the_client_it_needs(
    fake: KindsFake, name: str, client: object, grant: str | None
) -> None:
    platform = BY_NAME[name]
    async with open_platform_context(
        platform, fake.url, account="alice", credentials=CREDENTIALS
    ) as kit:
        assert kit.client == client
        tokens = await kit.tokens.current()
        assert tokens.access_token
        assert kit.ctx.endpoint("https://kinds.invalid") == f"{fake.url}/{name}"
    sent = [form.get("grant_type") for form in fake.forms]
    assert sent == ([grant] if grant else [])
    if client == NO_CLIENT:
        assert all("client_id" not in form for form in fake.forms)


def test_credentials_default_to_the_sandbox_user_and_refuse_unknown_names() -> None:
    given = kit_credentials("newsroom", {"password": "other"})
    assert (given.username, given.password, given.api_key) == (
        "newsroom",
        "other",
        "sandbox-api-key",
    )
    with pytest.raises(AssertionError, match="unknown credentials"):
        kit_credentials("newsroom", {"passwrd": "x"})
