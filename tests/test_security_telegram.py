"""The operator bot hears only its allowed chats, as a user runs it
(``pellacia-dist telegram bot`` against the sandbox's Telegram): from any
other chat, a private one or a group, every command, every button under a
forwarded alert and every reply gets no answer at all and changes nothing in
the database; the operator's chat, asked right after, is answered."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pellacia.config import SpacingSettings
from pellacia.contract import Alert
from pellacia.scheduling.testing import enqueue
from pellacia.store import deliveries, queue
from pellacia.store.models import DeliveryState
from pellacia.store.pool import connect_one
from pellacia.testing.cli import CLI, cli_env, sql, wait_for
from pellacia_telegram.sink import TelegramAlertSink, TelegramConfig

TOKEN = "5151515151:AAFsecurityTestTokenAbCdEfGhIjKlMnOp"
CHAT = 100200300
STRANGER = 555000111
GROUP = -100999888777


@pytest.fixture
def telegram(sandbox: Any) -> Iterator[Any]:
    fake = sandbox.host.fake("telegram")
    asyncio.run(sandbox.control.reset("telegram"))
    fake.add_chat(STRANGER)
    fake.add_chat(GROUP, chat_type="supergroup", title="Not ours")
    try:
        yield fake
    finally:
        asyncio.run(sandbox.control.reset("telegram"))


async def _manual_delivery(dsn: str) -> uuid.UUID:
    conn = await connect_one(dsn)
    try:
        [did] = await enqueue(conn, platforms=[("youtube", "news")], due_at=datetime.now(UTC))
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
    finally:
        await conn.close()
    return did


def _state(dsn: str) -> dict[str, Any]:
    """What an operator's action could change."""
    return {
        "deliveries": [dict(r) for r in sql(dsn, "SELECT id, state FROM deliveries ORDER BY id")],
        "paused": [
            dict(r) for r in sql(dsn, "SELECT * FROM account_slots WHERE paused_at IS NOT NULL")
        ],
        "events": sql(dsn, "SELECT count(*) AS n FROM events")[0]["n"],
    }


def _to(fake: Any, chat: int) -> list[dict[str, Any]]:
    return [m for m in fake.snapshot()["messages"] if m["chat_id"] == chat]


def test_commands_from_other_chats_get_nothing(
    telegram: Any, sandbox: Any, pg_dsn: str, tmp_path: Path
) -> None:
    fake = telegram
    base_url = f"{sandbox.base_url}/telegram"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[plugins.telegram]\nbot_token = "{TOKEN}"\nchat_id = "{CHAT}"\nbase_url = "{base_url}"\n'
    )
    did = asyncio.run(_manual_delivery(pg_dsn))
    sink = TelegramAlertSink(
        TelegramConfig.from_section(
            {"bot_token": TOKEN, "chat_id": str(CHAT), "base_url": base_url}
        )
    )
    asyncio.run(sink.send(Alert(level="warning", title="needs a person", delivery_id=str(did))))
    [alert] = _to(fake, CHAT)
    env = cli_env(PELLACIA_CONFIG=str(config), PELLACIA_DATABASE_URL=pg_dsn)
    bot = subprocess.Popen(
        [CLI, "telegram", "bot"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        fake.push_message(CHAT, "/status")  # the operator: the bot is up once answered
        wait_for(lambda: len(_to(fake, CHAT)) == 2, "the bot's answer to the operator", 30)
        before = _state(pg_dsn)
        for chat in (STRANGER, GROUP):
            for data in (f"retry:{did}", f"pause:{did}", f"resolve:{did}", "bogus:1"):
                fake.push_callback(chat, alert["message_id"], data, user_id=666)
            for text in ("/status", "/queue", "/manual", "/status@pellacia_bot", "/start",
                         f"Resolve delivery {did}", "https://youtu.be/abcdefghijk"):  # fmt: skip
                fake.push_message(chat, text, user_id=666)
        fake.push_message(CHAT, "/manual")  # handled after every update above, in order
        wait_for(lambda: len(_to(fake, CHAT)) == 3, "the bot's second answer", 30)
    finally:
        bot.terminate()
        output, _ = bot.communicate(timeout=30)
    assert _to(fake, STRANGER) == [] and _to(fake, GROUP) == []
    assert fake.snapshot()["answered"] == []  # not even a callback answer
    assert _state(pg_dsn) == before
    assert before["deliveries"] == [{"id": did, "state": "manual"}] and before["paused"] == []
    assert str(did)[:8] in _to(fake, CHAT)[-1]["text"]  # /manual answered the operator
    assert TOKEN.encode() not in output


def test_a_refused_token_is_a_clear_error_that_never_shows_it(
    telegram: Any, sandbox: Any, pg_dsn: str, tmp_path: Path
) -> None:
    """python-telegram-bot's own message for a refused token quotes the token."""
    fake = telegram
    base_url = f"{sandbox.base_url}/telegram"
    section = {"bot_token": TOKEN, "chat_id": str(CHAT), "base_url": base_url}
    asyncio.run(TelegramAlertSink(TelegramConfig.from_section(section)).send(  # type: ignore[arg-type]
        Alert(level="info", title="first use of the token")))  # fmt: skip
    fake.expire_tokens()  # as if regenerated at BotFather: now refused
    config = tmp_path / "config.toml"
    config.write_text(
        f'[plugins.telegram]\nbot_token = "{TOKEN}"\nchat_id = "{CHAT}"\nbase_url = "{base_url}"\n'
    )
    for url in (base_url, "http://127.0.0.1:9/telegram"):  # refused, then unreachable
        config.write_text(config.read_text().replace(base_url, url))
        env = cli_env(PELLACIA_CONFIG=str(config), PELLACIA_DATABASE_URL=pg_dsn)
        done = subprocess.run(
            [CLI, "telegram", "bot"], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stderr.startswith("Error: cannot start the operator bot"), done.stderr
        assert "Traceback" not in done.stderr and TOKEN not in done.stdout + done.stderr
        assert TOKEN.split(":")[1] not in done.stdout + done.stderr
