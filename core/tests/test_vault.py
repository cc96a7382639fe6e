"""The credentials vault and token refresh on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from pellacia.cli.main import cli
from pellacia.clock import FakeClock
from pellacia.contract import OAuthClient, TokenSet
from pellacia.errors import AuthExpired
from pellacia.store.cluster import find_bin_dir
from pellacia.store.pool import create_pool
from pellacia.tokens import ManagedTokenSource, VaultTokenStore, platform_context
from pellacia.vault import Key, KeyRing, Vault, VaultError, load_keyring

ACCESS = "ya29.ACCESS-very-secret-0123456789"
REFRESH = "1//REFRESH-very-secret-9876543210"


def tokens(access: str = ACCESS, refresh: str | None = REFRESH) -> TokenSet:
    return TokenSet(
        access_token=access,
        refresh_token=refresh,
        expires_at=datetime(2026, 1, 1, 13, 0, tzinfo=UTC),
        scopes=("upload",),
        extra={"open_id": "user-1"},
    )


def test_token_reprs_never_show_secrets() -> None:
    text = repr(tokens()) + str(tokens()) + repr(OAuthClient("id", "client-secret-xyz"))
    assert ACCESS not in text and REFRESH not in text and "client-secret-xyz" not in text
    assert "material" not in repr(Key.generate())


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    ring = load_keyring(tmp_path, None)
    path = tmp_path / "secret.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_keyring(tmp_path, None).current == ring.current
    path.chmod(0o644)
    with pytest.raises(Exception, match="readable by others"):
        load_keyring(tmp_path, None)


async def test_round_trip_and_no_plaintext_in_a_database_dump(pg_dsn: str, tmp_path: Path) -> None:
    vault = Vault(load_keyring(tmp_path, None))
    pool = await create_pool(pg_dsn)
    try:
        async with pool.acquire() as conn:
            await vault.put(conn, "youtube", "news", tokens())
            assert await vault.get(conn, "youtube", "news") == tokens()
            assert await vault.get(conn, "youtube", "other") is None
            infos = await vault.list(conn)
            assert [(i.platform, i.account, i.scopes) for i in infos] == [
                ("youtube", "news", ("upload",))
            ]
    finally:
        await pool.close()
    dump = await asyncio.to_thread(
        subprocess.run,
        [str(find_bin_dir() / "pg_dump"), "--data-only", pg_dsn],
        capture_output=True,
        text=True,
        check=True,
    )
    dump = dump.stdout
    assert "credentials" in dump
    assert ACCESS not in dump and REFRESH not in dump and "open_id" not in dump


async def test_ciphertext_is_bound_to_its_row_and_key(pg_dsn: str, tmp_path: Path) -> None:
    vault = Vault(load_keyring(tmp_path, None))
    pool = await create_pool(pg_dsn)
    try:
        async with pool.acquire() as conn:
            await vault.put(conn, "tiktok", "a", tokens())
            await vault.put(conn, "tiktok", "b", tokens("other-access-token"))
            # move a's sealed blob onto b's row: it must not open there
            await conn.execute(
                "UPDATE credentials SET ciphertext = (SELECT ciphertext FROM credentials "
                "WHERE account='a') WHERE account='b'"
            )
            with pytest.raises(VaultError, match="does not open") as caught:
                await vault.get(conn, "tiktok", "b")
            assert ACCESS not in str(caught.value)
            stranger = Vault(KeyRing((Key.generate(),), "env"))
            with pytest.raises(VaultError, match="not in the key ring"):
                await stranger.get(conn, "tiktok", "a")
    finally:
        await pool.close()


async def test_reseal_all_moves_every_row_to_the_new_key(pg_dsn: str, tmp_path: Path) -> None:
    old = load_keyring(tmp_path, None)
    pool = await create_pool(pg_dsn)
    try:
        async with pool.acquire() as conn:
            await Vault(old).put(conn, "youtube", "news", tokens())
            new_key = Key.generate()
            both = Vault(KeyRing((new_key, *old.keys), "test"))
            assert await both.reseal_all(conn, new_key) == 1
            only_new = Vault(KeyRing((new_key,), "test"))
            assert await only_new.get(conn, "youtube", "news") == tokens()
    finally:
        await pool.close()


class RotatingAuth:
    """A platform's token endpoint that rotates refresh tokens (as TikTok does):
    an old refresh token is refused once used."""

    scopes = ("upload",)

    def __init__(self) -> None:
        self.valid_refresh = REFRESH
        self.calls = 0

    def authorization_url(self, ctx, **_):  # pragma: no cover - not used here
        raise NotImplementedError

    async def exchange_code(self, ctx, **_):  # pragma: no cover - not used here
        raise NotImplementedError

    async def refresh(self, ctx, *, client, tokens):
        await asyncio.sleep(0)
        if tokens.refresh_token != self.valid_refresh:
            raise AuthExpired("invalid_grant")
        self.calls += 1
        self.valid_refresh = f"refresh-{self.calls}"
        return TokenSet(
            access_token=f"access-{self.calls}",
            refresh_token=self.valid_refresh,
            expires_at=ctx.clock.now() + timedelta(hours=2),
        )


class FakeAuthPlatform:
    name = "rotating"
    display_name = "Rotating"

    def __init__(self) -> None:
        self.auth = RotatingAuth()


async def test_two_workers_refreshing_at_once_refresh_once(pg_dsn: str, tmp_path: Path) -> None:
    """With rotating refresh tokens, a second concurrent refresh would use a dead
    refresh token; the vault row lock makes the second worker adopt the first's."""
    clock = FakeClock(datetime(2026, 1, 1, 12, 58, tzinfo=UTC))  # 2 min before expiry
    vault = Vault(load_keyring(tmp_path, None))
    platform = FakeAuthPlatform()
    pool = await create_pool(pg_dsn)
    try:
        async with pool.acquire() as conn:
            await vault.put(conn, "rotating", "a", tokens())
        sources = []
        for _ in range(2):
            store = VaultTokenStore(pool, vault, "rotating", "a")
            source = ManagedTokenSource(
                platform, OAuthClient("id"), tokens(), store=store, clock=clock
            )
            platform_context(platform, account="a", http=None, tokens=source, clock=clock)
            sources.append(source)
        results = await asyncio.gather(*(s.current() for s in sources))
        assert platform.auth.calls == 1
        assert {r.access_token for r in results} == {"access-1"}
        async with pool.acquire() as conn:
            stored = await vault.get(conn, "rotating", "a")
        assert stored is not None and stored.refresh_token == "refresh-1"
    finally:
        await pool.close()


def test_auth_cli_set_list_remove_never_prints_tokens(pg_dsn: str, tmp_path: Path) -> None:
    env = {"PELLACIA_DATABASE_URL": pg_dsn, "PELLACIA_DATA_DIR": str(tmp_path)}
    runner = CliRunner()
    payload = f'{{"access_token": "{ACCESS}", "refresh_token": "{REFRESH}", "expires_in": 3600}}'
    result = runner.invoke(
        cli, ["auth", "set", "youtube", "--account", "news", "--stdin"], input=payload, env=env
    )
    assert result.exit_code == 0, result.output
    listed = runner.invoke(cli, ["auth", "list", "--json"], env=env)
    assert listed.exit_code == 0 and '"account": "news"' in listed.output
    table = runner.invoke(cli, ["auth", "list"], env=env)
    for output in (result.output, listed.output, table.output):
        assert ACCESS not in output and REFRESH not in output
    rotated = runner.invoke(cli, ["auth", "rotate-key"], env=env)
    assert rotated.exit_code == 0 and "re-encrypted 1 credential" in rotated.output
    assert (
        runner.invoke(cli, ["auth", "remove", "youtube", "--account", "news"], env=env).exit_code
        == 0
    )
    missing = runner.invoke(cli, ["auth", "remove", "youtube", "--account", "news"], env=env)
    assert missing.exit_code == 1 and "no credentials stored" in missing.output


def test_auth_set_rejects_bad_json(pg_dsn: str, tmp_path: Path) -> None:
    env = {"PELLACIA_DATABASE_URL": pg_dsn, "PELLACIA_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(
        cli, ["auth", "set", "youtube", "--stdin"], input='{"refresh_token": "x"', env=env
    )
    assert result.exit_code == 2 and "invalid" in result.output


async def test_a_401_after_adopting_another_workers_revoked_tokens_refreshes_again(
    pg_dsn: str, tmp_path: Path
) -> None:
    """Worker B refreshed and stored its tokens; then the platform revoked every
    token. Worker A's 401 adopts B's stored tokens (refused too): A refreshes once
    more for itself instead of asking a person to sign in again."""
    from aiohttp import web
    from pellacia.http import client_session
    from pellacia.sdk import ApiClient

    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") == "Bearer access-2":
            return web.json_response({"ok": True})
        return web.json_response({"error": "revoked"}, status=401)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    clock = FakeClock(datetime(2026, 1, 1, 12, 0, tzinfo=UTC))  # an hour before expiry
    vault = Vault(load_keyring(tmp_path, None))
    platform = FakeAuthPlatform()
    pool = await create_pool(pg_dsn)
    try:
        async with pool.acquire() as conn:
            await vault.put(conn, "rotating", "a", tokens())
        a, b = (
            ManagedTokenSource(
                platform,
                OAuthClient("id"),
                tokens(),
                store=VaultTokenStore(pool, vault, "rotating", "a"),
                clock=clock,
            )
            for _ in range(2)
        )
        platform_context(platform, account="a", http=None, tokens=b, clock=clock)
        assert (await b.refresh()).access_token == "access-1"  # worker B, stored
        async with client_session() as http:
            ctx = platform_context(
                platform, account="a", http=http, tokens=a, clock=clock, sandbox_url=url
            )
            reply = await ApiClient(ctx).request("GET", f"{url}/me", action="read")
        assert reply.status == 200
        assert seen == [f"Bearer {ACCESS}", "Bearer access-1", "Bearer access-2"]
        assert platform.auth.calls == 2
    finally:
        await pool.close()
        await runner.cleanup()
