"""pellacia-dist hooks of the telegram plugin (hookimpls only; imports stay light).

Adds ``pellacia-dist telegram bot`` (the operator bot). Registers the
``telegram`` alert sink when ``[plugins.telegram]`` has a
``bot_token`` and a ``chat_id``; registers nothing when the section is absent
or empty. A half-filled section makes ``register_alert_sinks`` raise
``ConfigError``, so ``plugins list`` shows the plugin as failed with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pellacia.hookspecs import hookimpl

if TYPE_CHECKING:
    import click
    from pellacia.cli.context import CommandContext
    from pellacia.contract import AlertSink

PLUGIN_API_VERSION = 1


@hookimpl
def register_alert_sinks(
    register: Callable[[AlertSink], None], settings: Mapping[str, Any]
) -> None:
    if not settings:
        return
    from pellacia_telegram.sink import TelegramAlertSink, TelegramConfig

    config = TelegramConfig.from_section(settings)  # ConfigError when half configured
    if config is not None:
        register(TelegramAlertSink(config))


@hookimpl
def register_commands(cli: click.Group, context: CommandContext) -> None:
    from pellacia_telegram.cli import telegram_commands

    cli.add_command(telegram_commands(context))
