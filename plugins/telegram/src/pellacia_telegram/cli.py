"""``pellacia-dist telegram bot``: run the operator bot until interrupted."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from pellacia.cli.context import CommandContext

    from pellacia_telegram.sink import TelegramConfig


def telegram_commands(context: CommandContext) -> click.Group:
    """The ``telegram`` group, bound to the plugin's settings."""

    @click.group("telegram")
    def telegram() -> None:
        """The Telegram operator bot (alerts with buttons, /status /queue /manual)."""

    @telegram.command("bot")
    def bot() -> None:
        """Answer the operator's buttons and commands until Ctrl-C.

        Only chats in [plugins.telegram] allowed_chat_ids (default: chat_id)
        are heard; every action is recorded as an event naming who did it.
        """
        from pellacia.errors import ConfigError

        from pellacia_telegram.sink import TelegramConfig

        try:
            config = TelegramConfig.from_section(context.settings)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        if config is None:
            raise click.ClickException("configure [plugins.telegram] bot_token and chat_id first")
        if not config.allowed_chat_ids:
            raise click.ClickException("[plugins.telegram] needs allowed_chat_ids (numeric)")
        asyncio.run(_run(context, config))

    return telegram


async def _run(context: CommandContext, config: TelegramConfig) -> None:
    from pellacia.log import MASK, redact_text
    from pellacia.plugins import get_registry
    from pellacia.store.pool import connect
    from telegram.error import TelegramError

    from pellacia_telegram.bot import OperatorBot

    settings = context.config
    pool = await connect(settings, get_registry(settings.plugins).migrations, max_size=4)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    operator = OperatorBot(config, pool)
    try:
        try:
            await operator.start()
        except TelegramError as exc:  # unreachable, or the token refused: say so in one line
            # python-telegram-bot puts a refused token in its message: never print it
            why = redact_text(str(exc).replace(config.bot_token, MASK))
            raise click.ClickException(f"cannot start the operator bot: {why}") from None
        click.echo(f"operator bot running for chats {', '.join(map(str, config.allowed_chat_ids))}")
        await stop.wait()
    finally:
        await operator.stop()
        await pool.close()
