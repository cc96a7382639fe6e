"""A token endpoint for every kind, served as ``/<platform>/token`` on 127.0.0.1.

Users: ``alice`` / ``s3cret``. Client: ``sandbox-client`` / ``sandbox-secret``
(required for client credentials and token exchange). Short-lived tokens
``short-*`` exchange for long-lived ones.
"""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web

USERS = {"alice": "s3cret"}
CLIENT = ("sandbox-client", "sandbox-secret")


class KindsFake:
    def __init__(self) -> None:
        self.forms: list[dict[str, str]] = []
        self._seq = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/{platform}/token", self._token)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _tokens(self, refresh: bool = True, **extra: Any) -> dict[str, Any]:
        n = next(self._seq)
        body: dict[str, Any] = {
            "access_token": f"at-{n}",
            "token_type": "Bearer",
            "expires_in": 3600,
            **extra,
        }
        if refresh:
            body["refresh_token"] = f"rt-{n}"
        return body

    async def _token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.forms.append(form)
        grant = form.get("grant_type")
        client_ok = (form.get("client_id"), form.get("client_secret")) == CLIENT
        if grant == "password":
            if USERS.get(form.get("username", "")) != form.get("password"):
                return web.json_response({"error": "invalid_grant"}, status=400)
            return web.json_response(self._tokens(scope="upload", username=form["username"]))
        if grant == "client_credentials":
            if not client_ok:
                return web.json_response({"error": "invalid_client"}, status=401)
            return web.json_response(self._tokens(refresh=False))
        if grant == "exchange_token":
            if not client_ok or not form.get("token", "").startswith("short-"):
                return web.json_response({"error": "invalid_grant"}, status=400)
            return web.json_response(self._tokens(refresh=False, expires_in=60 * 86400))
        if grant == "refresh_token" and form.get("refresh_token", "").startswith("rt-"):
            return web.json_response(self._tokens())
        return web.json_response({"error": "unsupported_grant_type"}, status=400)
