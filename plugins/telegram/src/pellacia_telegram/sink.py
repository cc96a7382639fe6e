"""The Telegram alert sink: python-telegram-bot's ``Bot`` sending ``sendMessage``.

Every ``send`` opens the bot (``getMe``), sends one message and closes it:
alerts are rare, and no HTTP client outlives the event loop that made it.
A 429 is honoured once (wait ``retry_after``, then send again); every other
failure becomes a typed ``pellacia.errors`` error whose message never holds
the token. PTB's own loggers (and httpx's) get a filter that masks it too.
"""

from __future__ import annotations

import html
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pellacia.clock import SYSTEM_CLOCK, Clock
from pellacia.contract import Alert
from pellacia.errors import (
    AuthExpired,
    ConfigError,
    PlatformError,
    RateLimited,
    Rejected,
    Transient,
)
from pellacia.log import MASK, redact_text

TELEGRAM_API = "https://api.telegram.org/bot"
LEVEL_EMOJI = {"info": "\N{INFORMATION SOURCE}\ufe0f", "warning": "⚠️", "critical": "🚨"}
LEVELS = ("info", "warning", "critical")
MAX_TEXT_CHARS = 4096
#: a retry_after longer than this is not waited for here: the caller is told
MAX_RETRY_WAIT_S = 60.0


@dataclass(frozen=True)
class TelegramConfig:
    """The ``[plugins.telegram]`` section, checked."""

    bot_token: str = field(repr=False)
    chat_id: str
    base_url: str = TELEGRAM_API
    min_level: str = "info"
    timeout: float = 10.0

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> TelegramConfig | None:
        """None when Telegram is not configured; ``ConfigError`` when half configured."""
        token = section.get("bot_token")
        chat = section.get("chat_id")
        if not token and chat in (None, ""):
            return None
        if not token:
            raise ConfigError("[plugins.telegram] has a chat_id but no bot_token")
        if chat in (None, ""):
            raise ConfigError("[plugins.telegram] has a bot_token but no chat_id")
        if not isinstance(token, str):
            raise ConfigError("[plugins.telegram] bot_token must be a string")
        min_level = str(section.get("min_level", "info"))
        if min_level not in LEVELS:
            raise ConfigError(f"[plugins.telegram] min_level must be one of {', '.join(LEVELS)}")
        return cls(
            bot_token=token,
            chat_id=str(chat),
            base_url=bot_base_url(section.get("base_url")),
            min_level=min_level,
            timeout=float(section.get("timeout", 10.0)),
        )


def bot_base_url(value: Any) -> str:
    """PTB's ``base_url`` from the configured one.

    Accepts a Bot API server root (``http://127.0.0.1:8765/telegram``), the
    ``…/bot`` form PTB wants, or a URL with ``{token}`` in it.
    """
    if not value:
        return TELEGRAM_API
    url = str(value)
    if not url.startswith(("http://", "https://")):
        raise ConfigError("[plugins.telegram] base_url must start with http:// or https://")
    if "{token}" in url or "{bot_token}" in url or url.endswith("/bot"):
        return url
    return url.rstrip("/") + "/bot"


def format_alert(alert: Alert) -> str:
    """The alert as an HTML message: level emoji and title, where, then the body."""
    emoji = LEVEL_EMOJI.get(alert.level, "")
    lines = [f"{emoji} <b>{html.escape(alert.level.upper())}</b> · {html.escape(alert.title)}"]
    facts = []
    if alert.platform:
        facts.append(f"platform: <code>{html.escape(alert.platform)}</code>")
    if alert.delivery_id:
        facts.append(f"delivery: <code>{html.escape(alert.delivery_id)}</code>")
    if facts:
        lines.append(" · ".join(facts))
    if alert.body:
        budget = MAX_TEXT_CHARS - sum(len(line) + 1 for line in lines) - 80
        body = redact_text(alert.body)
        if len(body) > budget:
            body = body[: max(0, budget - 1)] + "…"
        lines.append("")
        lines.append(html.escape(body))
    if alert.at is not None:
        lines.append("")
        lines.append(f"<i>{html.escape(alert.at.strftime('%Y-%m-%d %H:%M:%S %Z').strip())}</i>")
    return "\n".join(lines)


class _MaskTokens(logging.Filter):
    """Masks bot tokens in records of PTB's and httpx's loggers (URLs hold them)."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(token in message for token in self.tokens):
            for token in self.tokens:
                message = message.replace(token, MASK)
            record.msg = message
            record.args = None
        return True


_MASK_FILTER = _MaskTokens()


_LOGGERS = ("telegram", "telegram.ext", "telegram.Bot", "httpx", "httpcore")


def _quiet_retry_after_deprecation() -> None:
    """PTB 22 warns whenever it builds a ``RetryAfter`` (its type changes in v23);
    we read either type, so the warning says nothing to our users."""
    from telegram.warnings import PTBDeprecationWarning

    warnings.filterwarnings(
        "ignore", message=r".*`retry_after` will be of type", category=PTBDeprecationWarning
    )


class TelegramAlertSink:
    """Sends each alert to one Telegram chat."""

    name = "telegram"

    def __init__(self, config: TelegramConfig, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.clock = clock
        _quiet_retry_after_deprecation()
        _MASK_FILTER.tokens.add(config.bot_token)
        for logger_name in _LOGGERS:
            logging.getLogger(logger_name).addFilter(_MASK_FILTER)  # once: same object

    def __repr__(self) -> str:
        return f"<TelegramAlertSink chat={self.config.chat_id} base_url={self.config.base_url}>"

    def wants(self, alert: Alert) -> bool:
        """Whether ``alert`` reaches this sink's ``min_level``."""
        return LEVELS.index(alert.level) >= LEVELS.index(self.config.min_level)

    async def send(self, alert: Alert) -> None:
        """Send ``alert``; raises a ``pellacia.errors`` class on failure."""
        if not self.wants(alert):
            return
        text = format_alert(alert)
        try:
            await self._send_text(text)
        except PlatformError:
            raise
        except Exception as exc:  # anything else PTB/httpx raised, without its chain
            raise Transient(self._clean(exc), platform="telegram", network=True) from None

    async def _send_text(self, text: str) -> None:
        from telegram.error import RetryAfter

        try:
            await self._post(text)
            return
        except RetryAfter as exc:
            wait = _retry_after(exc)
        if wait > MAX_RETRY_WAIT_S:
            raise RateLimited(
                f"Telegram asks to wait {wait:g} s before the next message",
                platform="telegram",
                retry_after=wait,
            )
        await self.clock.sleep(wait)
        try:
            await self._post(text)
        except RetryAfter as exc:
            again = _retry_after(exc)
            raise RateLimited(
                f"Telegram still rate-limits after waiting {wait:g} s (retry after {again:g} s)",
                platform="telegram",
                retry_after=again,
            ) from None

    async def _post(self, text: str) -> None:
        from telegram import Bot, LinkPreviewOptions
        from telegram.constants import ParseMode
        from telegram.error import (
            BadRequest,
            Forbidden,
            InvalidToken,
            NetworkError,
            RetryAfter,
            TelegramError,
        )
        from telegram.request import HTTPXRequest

        timeout = self.config.timeout
        request = HTTPXRequest(
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            pool_timeout=timeout,
        )
        bot = Bot(self.config.bot_token, base_url=self.config.base_url, request=request)
        try:
            async with bot:
                await bot.send_message(
                    chat_id=self.config.chat_id,
                    text=text,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
        except RetryAfter:
            raise
        except InvalidToken:
            raise AuthExpired(
                "Telegram refused the bot token (401 Unauthorized): check [plugins.telegram] "
                "bot_token",
                platform="telegram",
            ) from None
        except Forbidden as exc:
            raise Rejected(
                f"Telegram refused to post in chat {self.config.chat_id}: {self._clean(exc)}",
                platform="telegram",
            ) from None
        except BadRequest as exc:
            raise Rejected(
                f"Telegram rejected the alert for chat {self.config.chat_id}: {self._clean(exc)}",
                platform="telegram",
            ) from None
        except NetworkError as exc:  # includes TimedOut
            raise Transient(
                f"cannot reach the Telegram Bot API: {self._clean(exc)}",
                platform="telegram",
                network=True,
            ) from None
        except TelegramError as exc:
            raise Transient(self._clean(exc), platform="telegram") from None

    def _clean(self, exc: BaseException) -> str:
        text = f"{exc}" or type(exc).__name__
        return redact_text(text.replace(self.config.bot_token, MASK))


def _retry_after(exc: Any) -> float:
    """Seconds of a PTB ``RetryAfter`` (an int today, a timedelta in PTB's next major)."""
    from telegram.warnings import PTBDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
