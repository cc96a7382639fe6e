"""A live ``pellacia-dist serve`` for the API tests: uvicorn on 127.0.0.1 in a thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from pellacia.api import keys
from pellacia.api.app import create_app
from pellacia.plugins import load_plugins
from pellacia.store.pool import connect_one


@dataclass
class LiveApi:
    url: str
    keys: dict[str, str]  # scope -> key
    settings: Any

    def headers(self, scope: str = "admin", **extra: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[scope], **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _make_keys(dsn: str) -> dict[str, str]:
    conn = await connect_one(dsn)
    try:
        made = {}
        for scope in keys.SCOPES:
            made[scope], _ = await keys.create(conn, f"test-{scope}", scope)
        return made
    finally:
        await conn.close()


@contextmanager
def live_api(settings: Any) -> Iterator[LiveApi]:
    """Serve the API for ``settings`` (its database_url set) until the block ends."""
    dsn = settings.database_url.get_secret_value()
    # a thread of its own: the caller's event loop may be running
    with ThreadPoolExecutor(1) as one:
        made = one.submit(asyncio.run, _make_keys(dsn)).result()
    port = _free_port()
    app = create_app(settings, load_plugins())
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the API server did not start")
            threading.Event().wait(0.02)
        yield LiveApi(f"http://127.0.0.1:{port}", made, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def api_settings(fake: Any, tmp: Path, dsn: str, **api: Any) -> Any:
    """Settings reaching the fake test platform, with the API's allowed root ``tmp/in``."""
    from pellacia_testplatform.fixtures import settings_for

    (tmp / "in").mkdir(exist_ok=True)
    return settings_for(
        fake,
        tmp / "data",
        database_url=dsn,
        api={"allowed_roots": [str(tmp / "in")], **api},
        # loopback receivers only: generated requests never reach another host
        webhooks={"allowed_hosts": ["127.0.0.1"], "interval": 0.2},
    )


class WebhookReceiver:
    """A webhook endpoint (an aiohttp handler) that verifies every signature with the
    standardwebhooks library, fails the next ``fail_next`` requests, and keeps each
    message once per ``webhook-id``."""

    def __init__(self) -> None:
        self.secret = ""
        self.fail_next = 0
        self.requests = 0
        self.bad_signatures = 0
        self.received: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.arrived = asyncio.Event()

    async def handle(self, request: Any) -> Any:
        import json

        from aiohttp import web
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError

        self.requests += 1
        body = await request.text()
        try:
            Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.bad_signatures += 1
            return web.Response(status=400)
        if self.fail_next:
            self.fail_next -= 1
            return web.Response(status=500)
        message_id = request.headers["webhook-id"]
        if message_id not in self.received:
            self.order.append(message_id)
        self.received[message_id] = json.loads(body)
        self.arrived.set()
        return web.Response(status=204)

    def types(self) -> list[str]:
        return [str(self.received[i]["type"]) for i in self.order]


@asynccontextmanager
async def webhook_receiver() -> AsyncIterator[tuple[WebhookReceiver, str]]:
    """A receiver on 127.0.0.1 and its URL."""
    from aiohttp import web

    receiver = WebhookReceiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield receiver, f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()
