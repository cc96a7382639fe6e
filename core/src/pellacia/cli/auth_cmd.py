"""``pellacia-dist auth``: platform credentials in the encrypted vault."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from pellacia.cli.context import AppContext, console, emit_json, fail, json_option, pass_app

T = TypeVar("T")

account_option = click.option(
    "--account", default="default", show_default=True, help="Account name on that platform."
)


def _with_vault(app: AppContext, action: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Run ``action(conn, vault)`` on the migrated database."""
    from pellacia.errors import ConfigError
    from pellacia.store.pool import connect
    from pellacia.vault import open_vault

    settings = app.settings
    key = settings.secret_key.get_secret_value() if settings.secret_key else None
    try:
        vault = open_vault(settings.data_dir, key)
    except ConfigError as exc:
        fail(str(exc))

    async def run() -> T:
        pool = await connect(settings, app.registry.migrations, max_size=2)
        try:
            async with pool.acquire() as conn:
                return await action(conn, vault)
        finally:
            await pool.close()

    return asyncio.run(run())


@click.group()
def auth() -> None:
    """Connect platform accounts; tokens are stored encrypted (AES-256-GCM).

    The vault key comes from PELLACIA_SECRET_KEY or from the file secret.key in
    the data directory (created 0600 on first use). Keep it safe: without it
    the stored tokens cannot be read.
    """


def _parse_tokens(raw: str) -> Any:
    from pellacia.contract import TokenSet
    from pellacia.sdk import parse_token_response

    raw = raw.strip()
    if not raw:
        fail("no token given", code=2)
    if not raw.startswith("{"):
        return TokenSet(access_token=raw)
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        fail(f"token JSON is invalid: {exc.msg} (line {exc.lineno})", code=2)
    if not isinstance(data, dict) or not data.get("access_token"):
        fail('token JSON needs at least {"access_token": "..."}', code=2)
    return parse_token_response(data, now=datetime.now(UTC))


@auth.command("set")
@click.argument("platform")
@account_option
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='File with a bare access token or JSON {"access_token", "refresh_token", "expires_in", ...}.',
)
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the token (or JSON) from stdin.")
@pass_app
def set_(
    app: AppContext, platform: str, account: str, token_file: Path | None, from_stdin: bool
) -> None:
    """Store tokens for PLATFORM you obtained elsewhere.

    Tokens are never taken as command-line arguments (they would show in the
    shell history and process list): give a file, stdin, or type at the prompt.
    Prefer `auth login`, which runs the OAuth flow and keeps tokens refreshed.
    """
    if token_file is not None:
        raw = token_file.read_text()
    elif from_stdin or not sys.stdin.isatty():
        raw = sys.stdin.read()
    else:
        raw = click.prompt("access token (or JSON)", hide_input=True)
    tokens = _parse_tokens(raw)
    if platform not in app.registry.platforms:
        click.echo(f"warning: no installed plugin provides {platform!r}", err=True)

    async def store(conn: Any, vault: Any) -> None:
        await vault.put(conn, platform, account, tokens)

    _with_vault(app, store)
    click.echo(f"stored credentials for {platform}/{account} (encrypted)")


def _health(info: Any) -> Any:
    """The account's token health (``alerts.token_health.health``)."""
    from pellacia.alerts.token_health import health

    return health(info, datetime.now(UTC))


def _status(info: Any) -> str:
    return str(info.status(datetime.now(UTC)))


@auth.command("list")
@json_option
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """List stored credentials (never the tokens); --json adds their scopes."""

    async def read(conn: Any, vault: Any) -> list[Any]:
        result: list[Any] = await vault.list(conn)
        return result

    infos = _with_vault(app, read)
    if as_json:
        emit_json(
            [{**i.to_json(), "status": _status(i), "health": _health(i).level} for i in infos]
        )
        return
    from rich.table import Table

    def when(at: datetime | None) -> str:
        return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if at else "never"

    table = Table(title="stored credentials")
    for column in ("account", "bound to", "access expires", "refresh expires", "status"):
        table.add_column(column, overflow="fold")
    for i in infos:
        table.add_row(
            f"{i.platform}/{i.account}",
            i.bound_to or "-",
            when(i.expires_at),
            when(i.refresh_expires_at),
            _status(i),
        )
    console().print(
        table if infos else "no credentials stored: run pellacia-dist auth login PLATFORM"
    )


@auth.command()
@click.argument("platform")
@account_option
@pass_app
def remove(app: AppContext, platform: str, account: str) -> None:
    """Delete the stored credentials of PLATFORM/--account."""

    async def delete(conn: Any, vault: Any) -> bool:
        removed: bool = await vault.remove(conn, platform, account)
        return removed

    if not _with_vault(app, delete):
        fail(f"no credentials stored for {platform}/{account}")
    click.echo(f"removed credentials for {platform}/{account}")


SECRET_ENV = "PELLACIA_AUTH_SECRET"  # noqa: S105  the variable's name, not a secret
_PROMPTS = {"password": "password", "api_key": "API key", "token": "token to exchange"}


def _credentials(
    platform: Any, kind: Any, username: str | None, from_stdin: bool, account: str
) -> Any:
    """What the flow kind needs from the user: the secret from stdin, the
    environment (scripts) or a hidden prompt; never from the command line."""
    from pellacia.oauth_login import NEEDS, Credentials

    needs = NEEDS[kind]
    values: dict[str, str] = {}
    if "username" in needs:
        values["username"] = username or click.prompt(f"{platform.display_name} username")
    secret_name = next((n for n in needs if n != "username"), None)
    if secret_name is not None:
        if from_stdin:
            secret = sys.stdin.readline().rstrip("\r\n")
        elif os.environ.get(SECRET_ENV):
            secret = os.environ[SECRET_ENV]
        else:
            label = _PROMPTS[secret_name]
            secret = click.prompt(f"{platform.display_name} {label} for {account}", hide_input=True)
        values[secret_name] = secret
    return Credentials(**values)


def _url_opener(
    sandbox_url: str | None, display_name: str, no_browser: bool
) -> Callable[[str], Awaitable[None]]:
    """Shows the consent page: follows it against the sandbox (the fake approves and
    redirects to our callback), else prints the URL and opens a browser."""

    async def open_url(url: str) -> None:
        if sandbox_url:
            from pellacia.http import client_session

            async with client_session() as http, http.get(url) as response:
                await response.read()
            return
        click.echo(f"Open this URL to connect {display_name}:\n\n  {url}\n")
        if not no_browser:
            import webbrowser

            webbrowser.open(url)

    return open_url


@auth.command()
@click.argument("platform")
@account_option
@click.option("--username", help="User name, for platforms that sign in with a password.")
@click.option(
    "--stdin",
    "from_stdin",
    is_flag=True,
    help=f"Read the password, API key or token from stdin (else ${SECRET_ENV}, else a prompt).",
)
@click.option("--no-browser", is_flag=True, help="Print the URL instead of opening a browser.")
@click.option("--port", type=int, default=0, help="Loopback port for the redirect (0: any free).")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds to wait.")
@pass_app
def login(
    app: AppContext,
    platform: str,
    account: str,
    username: str | None,
    from_stdin: bool,
    no_browser: bool,
    port: int,
    timeout: float,
) -> None:
    """Connect an account through the sign-in its platform declares.

    OAuth authorization code: opens the consent page (PKCE, redirect to
    127.0.0.1); against the sandbox (--sandbox) consent is given
    automatically. Password, API key or token exchange: asks for them
    (hidden), or reads them from stdin or $PELLACIA_AUTH_SECRET. Tokens are
    stored encrypted and refreshed automatically from then on.
    """
    from pellacia.contract import auth_kind
    from pellacia.errors import PellaciaError
    from pellacia.oauth_login import login as run_login
    from pellacia.tokens import oauth_client

    settings = app.settings
    try:
        targets = _login_targets(app.registry, platform)
        target = targets[0]
        client = oauth_client(settings, target, account)
    except (KeyError, PellaciaError) as exc:
        fail(str(exc.args[0]) if exc.args else str(exc), code=2)
    platform = target.name
    credentials = _credentials(target, auth_kind(target.auth), username, from_stdin, account)

    open_url = _url_opener(settings.sandbox_url, target.display_name, no_browser)

    try:
        tokens = asyncio.run(
            run_login(
                target,
                client,
                account=account,
                open_url=open_url,
                credentials=credentials,
                settings=settings.plugins.get(platform, {}),
                sandbox_url=settings.sandbox_url,
                base_url=settings.account(platform, account).base_url,
                port=port,
                wait_seconds=timeout,
            )
        )
    except PellaciaError as exc:
        fail(str(exc))

    async def store(conn: Any, vault: Any) -> None:
        for each in targets:  # one sign-in, stored for every platform it serves
            await vault.put(conn, each.name, account, tokens)

    _with_vault(app, store)
    expiry = tokens.expires_at.isoformat(timespec="minutes") if tokens.expires_at else "never"
    names = " and ".join(t.display_name for t in targets)
    bound = tokens.extra.get("bound_to")
    click.echo(
        f"connected {names} account {account!r}"
        + (f" ({bound})" if bound else "")
        + f" (access token valid until {expiry})"
    )


def _login_targets(registry: Any, name: str) -> list[Any]:
    """The platforms one ``auth login NAME`` connects: the platform NAME, or every
    platform of the plugin NAME when they share one sign-in (Meta: a Facebook
    login binds a Page and its Instagram account)."""
    from pellacia.errors import ConfigError

    if name in registry.platforms:
        return [registry.platforms[name]]
    plugin = next((p for p in registry.plugins if p.name == name and p.error is None), None)
    provided = [
        registry.platforms[item.partition(":")[2]]
        for item in (plugin.provides if plugin else [])
        if item.startswith("platform:") and item.partition(":")[2] in registry.platforms
    ]
    if not provided:
        return [registry.platform(name)]  # KeyError naming what is installed
    if len({type(p.auth) for p in provided}) > 1:
        each = ", ".join(p.name for p in provided)
        raise ConfigError(f"the platforms of {name} sign in separately: auth login one of {each}")
    return provided


@auth.command("rotate-key")
@click.pass_context
def rotate_key(ctx: click.Context) -> None:
    """Re-encrypt every stored credential under a new vault key
    (the same as `pellacia-dist vault rotate-key`)."""
    from pellacia.cli.vault_cmd import rotate_key as vault_rotate_key

    ctx.invoke(vault_rotate_key)
