"""The OAuth 2.0 authorization-code flow with PKCE and a loopback redirect.

A one-shot HTTP server on 127.0.0.1 receives the redirect; the user's browser
is opened on the platform's consent page (or the URL printed). The code is
exchanged for tokens through the platform plugin's ``AuthFlow``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from pellacia.contract import OAuthClient, Platform, TokenSet
from pellacia.errors import AuthExpired


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str

    def __repr__(self) -> str:
        return "Pkce(…)"

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(64)  # 86 chars: within RFC 7636's 43..128
        digest = hashlib.sha256(verifier.encode()).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


_DONE_PAGE = (
    "<html><body><h1>pellacia-dist is connected.</h1>"
    "<p>You can close this window and return to the terminal.</p></body></html>"
)


async def login(
    platform: Platform,
    client: OAuthClient,
    *,
    account: str,
    open_url: Callable[[str], object],
    sandbox_url: str | None = None,
    port: int = 0,
    wait_seconds: float = 300.0,
) -> TokenSet:
    """Run the whole flow and return the tokens (not stored: the caller does that).

    ``open_url`` shows the consent URL to the user (opens a browser, prints it,
    or — against the sandbox — follows it).
    """
    from aiohttp import web

    from pellacia.http import client_session
    from pellacia.tokens import StaticTokenSource, platform_context

    pkce = Pkce.new()
    state = secrets.token_urlsafe(24)
    outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def callback(request: web.Request) -> web.Response:
        if request.query.get("state") != state:
            return web.Response(status=400, text="state mismatch: start the login again")
        if "error" in request.query:
            if not outcome.done():
                outcome.set_exception(
                    AuthExpired(
                        f"{platform.display_name} refused access: {request.query['error']}",
                        platform=platform.name,
                    )
                )
            return web.Response(status=400, text="access was refused")
        code = request.query.get("code")
        if not code:
            return web.Response(status=400, text="no code in the redirect")
        if not outcome.done():
            outcome.set_result(code)
        return web.Response(text=_DONE_PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/callback", callback)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound_port = runner.addresses[0][1]
    redirect_uri = f"http://127.0.0.1:{bound_port}/callback"
    try:
        async with client_session() as http:
            ctx = platform_context(
                platform,
                account=account,
                http=http,
                tokens=StaticTokenSource(TokenSet(access_token="")),
                sandbox_url=sandbox_url,
            )
            url = platform.auth.authorization_url(
                ctx,
                client=client,
                redirect_uri=redirect_uri,
                state=state,
                code_challenge=pkce.challenge,
            )
            opened = open_url(url)
            if asyncio.iscoroutine(opened):
                await opened
            try:
                code = await asyncio.wait_for(outcome, wait_seconds)
            except TimeoutError:
                raise AuthExpired(
                    f"no answer from {platform.display_name} within {wait_seconds:.0f} s; "
                    "run the login again",
                    platform=platform.name,
                ) from None
            return await platform.auth.exchange_code(
                ctx,
                client=client,
                code=code,
                redirect_uri=redirect_uri,
                code_verifier=pkce.verifier,
            )
    finally:
        await runner.cleanup()
