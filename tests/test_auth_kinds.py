"""Every declared sign-in kind works, in-process (``sign_in``) and through
`pellacia-dist auth login`, against the kinds test plugin's token endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pellacia.config import Settings
from pellacia.contract import NO_CLIENT, AuthKind, OAuthClient, TokenSet, auth_kind, needs_client
from pellacia.errors import AuthExpired, ConfigError
from pellacia.http import client_session
from pellacia.oauth_login import Credentials, sign_in
from pellacia.tokens import StaticTokenSource, oauth_client, platform_context

SITE = Path(__file__).resolve().parent / "plugins" / "kinds-site"
sys.path.insert(0, str(SITE))
try:
    from pellacia_testkinds.fake import KindsFake
    from pellacia_testkinds.platforms import PLATFORMS, KindsPlatform
finally:
    sys.path.remove(str(SITE))

CLI = str(Path(sys.executable).with_name("pellacia-dist"))
BY_NAME = {p.name: p for p in PLATFORMS}
CLIENT = OAuthClient("sandbox-client", "sandbox-secret")


@pytest.fixture
async def fake() -> AsyncIterator[KindsFake]:
    server = KindsFake()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def signed_in(
    fake: KindsFake, name: str, client: OAuthClient, credentials: Credentials | None = None
) -> TokenSet:
    platform = BY_NAME[name]
    async with client_session() as http:
        ctx = platform_context(
            platform,
            account="newsroom",
            http=http,
            tokens=StaticTokenSource(TokenSet(access_token="")),
            sandbox_url=fake.url,
        )
        return await sign_in(platform, ctx, client, credentials=credentials)


def test_kinds_are_declared_and_clients_asked_only_when_needed() -> None:
    assert [auth_kind(p.auth) for p in PLATFORMS] == [
        AuthKind.PASSWORD,
        AuthKind.CLIENT_CREDENTIALS,
        AuthKind.TOKEN_EXCHANGE,
        AuthKind.API_KEY,
    ]
    assert [needs_client(p.auth) for p in PLATFORMS] == [False, True, True, False]
    settings = Settings(database_url=None)
    assert oauth_client(settings, BY_NAME["kinds_password"], "a") is NO_CLIENT
    assert oauth_client(settings, BY_NAME["kinds_apikey"], "a") is NO_CLIENT
    with pytest.raises(ConfigError, match="client_id"):
        oauth_client(settings, BY_NAME["kinds_client"], "a")
    configured = Settings(
        database_url=None,
        accounts={"kinds_password": [{"name": "a", "client_id": "mine", "client_secret": "s"}]},
    )
    assert oauth_client(configured, BY_NAME["kinds_password"], "a") == OAuthClient("mine", "s")


async def test_password_grant_signs_in_and_refreshes(fake: KindsFake) -> None:
    tokens = await signed_in(
        fake, "kinds_password", NO_CLIENT, Credentials(username="alice", password="s3cret")
    )
    assert tokens.refresh_token and tokens.scopes == ("upload",)
    assert tokens.extra == {"username": "alice"}  # the password is never kept
    assert "client_id" not in fake.forms[-1] and fake.forms[-1]["password"] == "s3cret"
    with pytest.raises(AuthExpired, match="invalid_grant"):
        await signed_in(
            fake, "kinds_password", NO_CLIENT, Credentials(username="alice", password="nope")
        )
    with pytest.raises(ConfigError, match="needs a password"):
        await signed_in(fake, "kinds_password", NO_CLIENT, Credentials(username="alice"))
    platform = BY_NAME["kinds_password"]
    async with client_session() as http:
        ctx = platform_context(
            platform,
            account="a",
            http=http,
            tokens=StaticTokenSource(tokens),
            sandbox_url=fake.url,
        )
        fresh = await platform.auth.refresh(ctx, client=NO_CLIENT, tokens=tokens)
    assert fresh.access_token != tokens.access_token and fresh.extra["username"] == "alice"


async def test_client_credentials_token_exchange_and_api_key(fake: KindsFake) -> None:
    app = await signed_in(fake, "kinds_client", CLIENT)
    assert app.access_token and app.refresh_token is None
    with pytest.raises(AuthExpired, match="client id and secret"):
        await signed_in(fake, "kinds_client", OAuthClient("sandbox-client", "wrong"))

    long_lived = await signed_in(fake, "kinds_exchange", CLIENT, Credentials(token="short-abc"))
    assert long_lived.expires_at is not None
    assert fake.forms[-1]["token"] == "short-abc"
    with pytest.raises(AuthExpired):
        await signed_in(fake, "kinds_exchange", CLIENT, Credentials(token="stale"))

    keyed = await signed_in(fake, "kinds_apikey", NO_CLIENT, Credentials(api_key="k-123 "))
    assert keyed.access_token == "k-123" and keyed.refresh_token is None
    platform = BY_NAME["kinds_apikey"]
    async with client_session() as http:
        ctx = platform_context(
            platform, account="a", http=http, tokens=StaticTokenSource(keyed), sandbox_url=fake.url
        )
        with pytest.raises(AuthExpired, match="API key"):
            await platform.auth.refresh(ctx, client=NO_CLIENT, tokens=keyed)


async def test_a_flow_that_does_not_implement_its_kind_is_a_config_error(
    fake: KindsFake,
) -> None:
    class Liar:
        kind = AuthKind.PASSWORD
        scopes = ()

        async def refresh(self, ctx: Any, *, client: OAuthClient, tokens: TokenSet) -> TokenSet:
            return tokens

    BY_NAME["kinds_liar"] = KindsPlatform("kinds_liar", Liar())
    try:
        with pytest.raises(ConfigError, match="does not implement PasswordFlow"):
            await signed_in(fake, "kinds_liar", NO_CLIENT, Credentials("a", "b"))
    finally:
        del BY_NAME["kinds_liar"]


async def cli(*args: str, env: dict[str, str], stdin: str = "") -> tuple[int, str, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}
    full.update(env)
    full["PYTHONPATH"] = os.pathsep.join([str(SITE), *filter(None, [full.get("PYTHONPATH")])])
    proc = await asyncio.create_subprocess_exec(
        CLI,
        *args,
        env=full,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_auth_login_for_every_kind(fake: KindsFake, pg_dsn: str, tmp_path: Path) -> None:
    env = {
        "PELLACIA_DATABASE_URL": pg_dsn,
        "PELLACIA_DATA_DIR": str(tmp_path),
        "PELLACIA_SANDBOX_URL": fake.url,
    }
    outputs = []
    # password from stdin (scripts), username as an option: no client id asked for
    code, out, err = await cli(
        "auth", "login", "kinds_password", "--username", "alice", "--stdin",
        env=env, stdin="s3cret\n",
    )  # fmt: skip
    assert code == 0, err
    outputs.append(out + err)
    # a wrong password is refused, and nothing is stored for that account
    code, out, err = await cli(
        "auth", "login", "kinds_password", "--account", "other", "--username", "alice",
        "--stdin", env=env, stdin="wrong\n",
    )  # fmt: skip
    assert code != 0 and "invalid_grant" in err
    # the API key and the token to exchange from the environment
    code, out, err = await cli(
        "auth", "login", "kinds_apikey", env={**env, "PELLACIA_AUTH_SECRET": "key-xyz"}
    )
    assert code == 0, err
    outputs.append(out + err)
    code, out, err = await cli(
        "auth", "login", "kinds_exchange", "--stdin", env=env, stdin="short-tok\n"
    )
    assert code == 0, err
    outputs.append(out + err)
    code, out, err = await cli("auth", "login", "kinds_client", env=env)  # asks nothing
    assert code == 0, err
    outputs.append(out + err)

    code, out, err = await cli("auth", "list", "--json", env=env)
    assert code == 0, err
    stored = {(e["platform"], e["account"]) for e in json.loads(out)}
    assert stored == {
        ("kinds_password", "default"),
        ("kinds_apikey", "default"),
        ("kinds_exchange", "default"),
        ("kinds_client", "default"),
    }
    for text in [*outputs, out]:
        for secret in ("s3cret", "key-xyz", "short-tok", "sandbox-secret"):
            assert secret not in text


def test_config_check_asks_for_a_client_id_only_where_the_kind_needs_one() -> None:
    import pluggy
    from pellacia.config_check import check_settings
    from pellacia.plugins import Registry

    registry = Registry(manager=pluggy.PluginManager("pellacia_dist"), platforms=dict(BY_NAME))
    settings = Settings(
        database_url=None,
        accounts={name: [{"name": "a"}] for name in BY_NAME},
        chains={name: ["api", "manual"] for name in BY_NAME},
    )
    missing = {
        p.where.split(".")[1].split("[")[0]
        for p in check_settings(settings, registry)
        if "client_id" in p.message
    }
    assert missing == {"kinds_client", "kinds_exchange"}
