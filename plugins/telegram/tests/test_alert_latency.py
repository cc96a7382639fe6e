"""A delivery's failure reaches Telegram within 30 s, through the real worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pellacia.clock import SystemClock
from pellacia.plugins import load_plugins
from pellacia.scheduling.testing import enqueue, media_of, wait_until
from pellacia.scheduling.worker import Worker
from pellacia.store.pool import create_pool
from pellacia.testing.videos import make_video
from pellacia_sandbox.host import SandboxHost
from pellacia_testplatform.fixtures import settings_for

TOKEN = "987654321:AAFsandboxTOKENabcdefghijklmnopqrstu"
#: the specification's promise
WITHIN_S = 30.0


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[Any]:
    pool = await create_pool(pg_dsn, max_size=8)
    yield pool
    await pool.close()


async def test_failure_reaches_telegram_within_30_s(
    testplatform: Any, pool: Any, pg_dsn: str, tmp_path: Path
) -> None:
    video = make_video(tmp_path / "clip.mp4", seconds=1.0, width=160, height=120)
    async with SandboxHost(only=["telegram"]) as host:
        settings = settings_for(
            testplatform, tmp_path, chains={"testplatform": ["api"]}, sandbox_url=testplatform.url
        )
        settings.plugins["telegram"] = {
            "bot_token": TOKEN,
            "chat_id": "100200300",
            "base_url": f"{host.base_url}/telegram",
        }
        registry = load_plugins(settings.plugins)
        assert "telegram" in [s.name for s in registry.alert_sinks]
        testplatform.fail("400", op="init", times=5)  # the platform refuses the video
        media = media_of(video)
        async with pool.acquire() as conn:
            [did] = await enqueue(
                conn,
                platforms=[("testplatform", "news")],
                due_at=datetime.now(UTC),
                video_path=str(video),
                video_size=media["size"],
                media=media,
            )
        worker = Worker(pool, settings, SystemClock(), registry=registry, concurrency=1)
        run = asyncio.create_task(worker.run())
        fake = host.fake("telegram")
        try:
            await wait_until(
                pg_dsn, "SELECT state FROM deliveries WHERE id = $1", did, expect="failed"
            )
            async with asyncio.timeout(WITHIN_S):
                await fake.wait_for_messages(1)
        finally:
            worker.stop()
            await run
        async with pool.acquire() as conn:
            failed_at = await conn.fetchval(
                "SELECT created_at FROM events WHERE delivery_id = $1"
                " AND kind = 'delivery.state' AND payload->>'to' = 'failed'",
                did,
            )
        [message] = fake.snapshot()["messages"]
        assert str(did) in message["text"] and "delivery failed" in message["text"]
        latency = message["sent_at"] - failed_at.timestamp()
        print(f"failure -> Telegram: {latency:.3f} s")
        assert 0 <= latency < WITHIN_S


async def test_a_worker_stopped_as_the_delivery_fails_still_sends_its_alert(
    testplatform: Any, pool: Any, pg_dsn: str, tmp_path: Path
) -> None:
    """`upload --wait` stops its worker as soon as the delivery is final; the alert
    is sent after the final state is written, and must not be cut off."""
    video = make_video(tmp_path / "clip.mp4", seconds=1.0, width=160, height=120)
    async with SandboxHost(only=["telegram"]) as host:
        settings = settings_for(
            testplatform, tmp_path, chains={"testplatform": ["api"]}, sandbox_url=testplatform.url
        )
        settings.plugins["telegram"] = {
            "bot_token": TOKEN,
            "chat_id": "100200300",
            "base_url": f"{host.base_url}/telegram",
        }
        # a slow Telegram: every call takes a second, so the stop below comes mid-send
        host.faults.add({"platform": "telegram", "kind": "delay", "seconds": 1.0, "times": None})
        registry = load_plugins(settings.plugins)
        testplatform.fail("400", op="init", times=5)
        media = media_of(video)
        async with pool.acquire() as conn:
            [did] = await enqueue(
                conn,
                platforms=[("testplatform", "news")],
                due_at=datetime.now(UTC),
                video_path=str(video),
                video_size=media["size"],
                media=media,
            )
        worker = Worker(pool, settings, SystemClock(), registry=registry, concurrency=1)
        run = asyncio.create_task(worker.run())
        try:
            await wait_until(
                pg_dsn, "SELECT state FROM deliveries WHERE id = $1", did, expect="failed"
            )
        finally:
            worker.stop()
            await run
        [message] = host.fake("telegram").snapshot()["messages"]
        assert str(did) in message["text"] and "delivery failed" in message["text"]
