"""A live ``pellacia-dist serve`` for the API tests: uvicorn on 127.0.0.1 in a thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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
    made = asyncio.run(_make_keys(dsn))
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
