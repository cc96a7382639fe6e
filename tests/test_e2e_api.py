"""End to end through the REST API alone: a dashboard registers a webhook, creates a
post twice with one Idempotency-Key (one post), a `pellacia-dist worker` publishes it
on the test platform over HTTP, the API shows it published, and the webhook receiver
gets every event signed and once."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
from pellacia.testing.api import api_settings, live_api, webhook_receiver
from pellacia.testing.videos import make_video
from pellacia_testplatform.fake import FakeTestPlatform


async def _worker_once(tmp_path: Path, fake: FakeTestPlatform, dsn: str) -> int:
    config = tmp_path / "config.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        f'[plugins.testplatform]\nbase_url = "{fake.base_url}"\n'
        'access_token = "tp-token-static"\n'
        '[chains]\ntestplatform = ["api", "manual"]\n'
        "[spacing]\nmin_interval = 0\njitter = 0\n"
    )
    env = {**os.environ, "DATABASE_URL": dsn, "PELLACIA_CONFIG": str(config), "NO_COLOR": "1"}
    env.pop("PELLACIA_DATABASE_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from pellacia.cli.main import main; main()",
        "worker",
        "--once",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(proc.wait(), 120)


async def test_dashboard_flow_through_the_api(
    pg_dsn: str, testplatform: FakeTestPlatform, tmp_path: Path
) -> None:
    settings = api_settings(testplatform, tmp_path, pg_dsn)  # allowed root: tmp_path/in
    video = make_video(tmp_path / "in" / "clip.mp4", seconds=1.0)
    async with webhook_receiver() as (receiver, hook_url):
        with live_api(settings) as api:
            async with httpx.AsyncClient(
                base_url=api.url, headers=api.headers("admin"), timeout=30
            ) as c:
                hook = (await c.post("/v1/webhooks", json={"url": hook_url})).json()
                receiver.secret = hook["secret"]
                body = {"path": str(video), "platforms": ["testplatform"], "title": "Flood"}
                key = {"Idempotency-Key": "dash-42"}
                first = (await c.post("/v1/posts", json=body, headers=key)).json()
                second = (await c.post("/v1/posts", json=body, headers=key)).json()
                assert first == second
                assert len((await c.get("/v1/posts")).json()["items"]) == 1

                assert await _worker_once(tmp_path, testplatform, pg_dsn) == 0
                post = (await c.get(f"/v1/posts/{first['post_id']}")).json()
                [delivery] = post["deliveries"]
                assert delivery["state"] == "published" and delivery["remote_url"]
                assert delivery["history"][-1]["outcome"] == "published"

                async with asyncio.timeout(60):  # the server sends them every 0.2 s
                    while "delivery.published" not in receiver.types():
                        receiver.arrived.clear()
                        await receiver.arrived.wait()
    assert receiver.bad_signatures == 0
    types = receiver.types()
    assert types[0] == "delivery.created" and types[-1] == "delivery.published"
    assert len(types) == len(set(receiver.order))  # once per webhook-id
    published = receiver.received[receiver.order[-1]]["data"]
    assert published["delivery_id"] == delivery["id"] and published["url"]
