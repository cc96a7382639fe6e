"""The operator bot over the sandbox Telegram and a real database.

Buttons and commands work from the configured chat only; every action is an
event naming who did it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pellacia.config import SpacingSettings
from pellacia.contract import Alert
from pellacia.scheduling.testing import enqueue
from pellacia.store import deliveries, queue
from pellacia.store.models import DeliveryState
from pellacia.store.pool import create_pool
from pellacia_sandbox.host import SandboxHost
from pellacia_telegram.bot import OperatorBot
from pellacia_telegram.sink import TelegramAlertSink, TelegramConfig

TOKEN = "987654321:AAFsandboxTOKENabcdefghijklmnopqrstu"
CHAT = 100200300
STRANGER = 555000111


@pytest.fixture(scope="module")
async def host() -> AsyncIterator[SandboxHost]:
    async with SandboxHost(only=["telegram"]) as running:
        yield running


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[Any]:
    pool = await create_pool(pg_dsn, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def setup(
    host: SandboxHost, pool: Any
) -> AsyncIterator[tuple[Any, TelegramAlertSink, OperatorBot]]:
    host.reset()
    fake = host.fake("telegram")
    fake.add_chat(STRANGER)  # the bot could write there: it must not
    config = TelegramConfig.from_section(
        {"bot_token": TOKEN, "chat_id": str(CHAT), "base_url": f"{host.base_url}/telegram"}
    )
    assert config is not None and config.allowed_chat_ids == (CHAT,)
    bot = OperatorBot(config, pool)
    await bot.start()
    try:
        yield fake, TelegramAlertSink(config), bot
    finally:
        await bot.stop()


async def manual_delivery(pool: Any, account: str = "news") -> uuid.UUID:
    """A delivery that went to the manual queue."""
    async with pool.acquire() as conn:
        [did] = await enqueue(conn, platforms=[("yt", account)], due_at=datetime.now(UTC))
        await queue.claim(
            conn,
            worker_id="w",
            now=datetime.now(UTC),
            lease_seconds=60,
            limit=5,
            spacing=lambda _p: SpacingSettings(min_interval=0, jitter=0),
        )
        await deliveries.transition(
            conn, did, DeliveryState.MANUAL, owner="w", release=True, reason="needs a person"
        )
    return did


async def alert_for(sink: TelegramAlertSink, fake: Any, did: uuid.UUID) -> int:
    await sink.send(
        Alert(level="warning", title=f"yt/news: needs a person ({did})", delivery_id=str(did))
    )
    return int(fake.snapshot()["messages"][-1]["message_id"])


def messages_to(fake: Any, chat: int) -> list[dict[str, Any]]:
    return [m for m in fake.snapshot()["messages"] if m["chat_id"] == chat]


async def actions(pool: Any) -> list[tuple[str, str]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT payload FROM events WHERE kind = 'operator.action' ORDER BY id"
        )
    return [(r["payload"]["action"], r["payload"]["by"]) for r in rows]


async def state(pool: Any, did: uuid.UUID) -> str:
    async with pool.acquire() as conn:
        return str(await conn.fetchval("SELECT state FROM deliveries WHERE id = $1", did))


async def test_retry_from_the_allowed_chat_only(setup: Any, pool: Any) -> None:
    fake, sink, bot = setup
    did = await manual_delivery(pool)
    message_id = await alert_for(sink, fake, did)
    # a stranger presses Retry (under a message it was forwarded) and sends commands
    fake.push_callback(STRANGER, message_id, f"retry:{did}", user_id=666, user_name="Mallory")
    fake.push_message(STRANGER, "/status", user_id=666)
    last = fake.push_message(STRANGER, "/manual", user_id=666)
    await bot.wait_handled(last)
    assert await state(pool, did) == "manual"
    assert messages_to(fake, STRANGER) == [] and fake.snapshot()["answered"] == []
    assert await actions(pool) == []
    # the operator presses Retry
    pressed = fake.push_callback(CHAT, message_id, f"retry:{did}", user_id=4242, user_name="Ada")
    await bot.wait_handled(pressed)
    assert await state(pool, did) == "ready"
    assert await actions(pool) == [("retry", "telegram:4242 @ada")]
    [answer] = fake.snapshot()["answered"]
    assert "queued again" in answer["text"]
    assert messages_to(fake, STRANGER) == []


async def test_resolve_asks_for_the_url(setup: Any, pool: Any) -> None:
    fake, sink, bot = setup
    did = await manual_delivery(pool)
    message_id = await alert_for(sink, fake, did)
    await bot.wait_handled(fake.push_callback(CHAT, message_id, f"resolve:{did}"))
    prompt = messages_to(fake, CHAT)[-1]
    assert f"Resolve delivery {did}" in prompt["text"]
    assert prompt["reply_markup"]["force_reply"] is True
    # a reply from elsewhere does nothing
    await bot.wait_handled(fake.push_message(STRANGER, "https://youtu.be/evil"))
    url = "https://www.youtube.com/watch?v=abcdefghijk"
    await bot.wait_handled(fake.push_message(CHAT, url, reply_to=prompt["message_id"]))
    assert await state(pool, did) == "published"
    async with pool.acquire() as conn:
        remote = await conn.fetchval("SELECT remote_id FROM deliveries WHERE id = $1", did)
    assert remote == "abcdefghijk"
    assert await actions(pool) == [("resolve", "telegram:4242 @operator")]
    assert "recorded as published" in messages_to(fake, CHAT)[-1]["text"]


async def test_pause_account_and_commands(setup: Any, pool: Any) -> None:
    fake, sink, bot = setup
    did = await manual_delivery(pool, account="sport")
    message_id = await alert_for(sink, fake, did)
    await bot.wait_handled(fake.push_callback(CHAT, message_id, f"pause:{did}"))
    async with pool.acquire() as conn:
        paused = await conn.fetchrow(
            "SELECT pause_reason, paused_by FROM account_slots WHERE platform = 'yt' AND account = 'sport'"
        )
    assert dict(paused) == {
        "pause_reason": "paused from Telegram",
        "paused_by": "telegram:4242 @operator",
    }
    assert await actions(pool) == [("pause", "telegram:4242 @operator")]
    await bot.wait_handled(fake.push_message(CHAT, "/status"))
    status = messages_to(fake, CHAT)[-1]["text"]
    assert "yt: manual 1" in status and "Paused: yt/sport" in status
    await bot.wait_handled(fake.push_message(CHAT, "/manual"))
    assert f"{str(did)[:8]} yt/sport" in messages_to(fake, CHAT)[-1]["text"]
    await bot.wait_handled(fake.push_message(CHAT, "/queue"))
    assert messages_to(fake, CHAT)[-1]["text"] == "Nothing waits."
