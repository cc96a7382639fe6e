"""The Telegram alert sink: python-telegram-bot's ``Bot`` sending ``sendMessage``.

Every ``send`` opens the bot (``getMe``), sends one message and closes it:
alerts are rare, and no HTTP client outlives the event loop that made it.

Never a storm: the same alert (level, title, platform) again within
``group_window`` seconds is counted, not sent; the first message is edited
with the count at most every ``edit_interval`` seconds. During ``quiet_hours``
info and warning alerts arrive silently (no notification sound); critical ones
always ring. An alert about one delivery carries the operator's buttons
(Retry, Pause account, and Resolve where a person must act), which the
operator bot (``pellacia_telegram.bot``) answers.
A 429 is honoured once (wait ``retry_after``, then send again); every other
failure becomes a typed ``pellacia.errors`` error whose message never holds
the token. PTB's own loggers (and httpx's) get a filter that masks it too.
"""

from __future__ import annotations

import asyncio
import html
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

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
#: alert titles that mean a person must act on the delivery (gets a Resolve button)
NEEDS_PERSON = ("needs a person", "asks for a human", "OUTCOME UNKNOWN")


@dataclass(frozen=True)
class TelegramConfig:
    """The ``[plugins.telegram]`` section, checked."""

    bot_token: str = field(repr=False)
    chat_id: str
    base_url: str = TELEGRAM_API
    min_level: str = "info"
    timeout: float = 10.0
    #: the same alert again within this many seconds edits the first message's count
    group_window: float = 600.0
    #: at most one edit per this many seconds per grouped message
    edit_interval: float = 5.0
    #: (start, end) local times when info/warning alerts arrive silently
    quiet_hours: tuple[time, time] | None = None
    timezone: str = "UTC"
    #: chats the operator bot takes commands and button presses from
    allowed_chat_ids: tuple[int, ...] = ()

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
            group_window=float(section.get("group_window", 600.0)),
            edit_interval=float(section.get("edit_interval", 5.0)),
            quiet_hours=_quiet_hours(section.get("quiet_hours")),
            timezone=_zone_name(section.get("timezone", "UTC")),
            allowed_chat_ids=_chat_ids(section.get("allowed_chat_ids"), str(chat)),
        )

    def quiet_at(self, now: datetime) -> bool:
        """Whether ``now`` (aware) falls inside the quiet hours."""
        if self.quiet_hours is None:
            return False
        start, end = self.quiet_hours
        local: time = now.astimezone(ZoneInfo(self.timezone)).time()
        return start <= local < end if start <= end else local >= start or local < end


def _quiet_hours(value: Any) -> tuple[time, time] | None:
    if not value:
        return None
    try:
        start, end = (time.fromisoformat(part.strip()) for part in str(value).split("-"))
    except ValueError:
        raise ConfigError(
            f"[plugins.telegram] quiet_hours must look like 22:00-07:00, not {value!r}"
        ) from None
    return start, end


def _zone_name(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ValueError, KeyError, OSError):
        raise ConfigError(f"[plugins.telegram] unknown timezone {value!r}") from None
    return str(value)


def _chat_ids(value: Any, chat: str) -> tuple[int, ...]:
    """The allowed chats: ``allowed_chat_ids``, else the alert chat when numeric."""
    items = value if isinstance(value, list | tuple) else ([value] if value else [])
    if not items and chat.lstrip("-").isdigit():
        items = [chat]
    try:
        return tuple(int(item) for item in items)
    except (TypeError, ValueError):
        raise ConfigError("[plugins.telegram] allowed_chat_ids must be numeric chat ids") from None


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


def buttons(alert: Alert) -> list[tuple[str, str]]:
    """The operator's buttons (label, callback data) for an alert about one delivery."""
    if not alert.delivery_id:
        return []
    found = [("Retry", f"retry:{alert.delivery_id}")]
    if any(mark in alert.title for mark in NEEDS_PERSON):
        found.append(("Resolve", f"resolve:{alert.delivery_id}"))
    found.append(("Pause account", f"pause:{alert.delivery_id}"))
    return found


def format_group(first: Alert, latest: Alert, count: int) -> str:
    """A grouped alert: the latest one, headed by how many came since the first."""
    since = f" since {first.at:%H:%M:%S %Z}".rstrip() if first.at is not None else ""
    return f"<b>{count} times</b>{html.escape(since)}\n" + format_alert(latest)


@dataclass
class _Group:
    """One message standing for a burst of the same alert."""

    first: Alert
    started: float
    latest: Alert
    count: int = 1
    message_id: int | None = None
    sent: asyncio.Event = field(default_factory=asyncio.Event)
    flush: asyncio.Task[None] | None = None


class TelegramAlertSink:
    """Sends alerts to one Telegram chat, grouping bursts (see the module docstring)."""

    name = "telegram"

    def __init__(self, config: TelegramConfig, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.clock = clock
        self._groups: dict[tuple[str, str, str | None], _Group] = {}
        self._draining = asyncio.Event()  # set: show pending counts now
        #: messages sent and edits made (for status displays and tests)
        self.messages_sent = 0
        self.edits_made = 0
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
        """Send ``alert`` (or count it into its burst); raises a ``pellacia.errors``
        class when the message cannot be sent."""
        if not self.wants(alert):
            return
        key = (alert.level, alert.title, alert.platform)
        now = self.clock.monotonic()
        group = self._groups.get(key)
        if group is not None and now - group.started < self.config.group_window:
            group.count += 1
            group.latest = alert
            if group.flush is None:
                group.flush = asyncio.create_task(self._flush_later(group))
            return
        self._forget_old(now)
        group = self._groups[key] = _Group(first=alert, started=now, latest=alert)
        try:
            group.message_id = await self._deliver(
                format_alert(alert), alert, buttons(alert), edit=None
            )
        finally:
            group.sent.set()

    def _forget_old(self, now: float) -> None:
        """Drop bursts whose window is over and whose count is shown."""
        for key, group in list(self._groups.items()):
            if now - group.started >= self.config.group_window and group.flush is None:
                del self._groups[key]

    async def drain(self) -> None:
        """Wait until every burst's count is shown (shutdown, tests)."""
        self._draining.set()
        try:
            while pending := [g.flush for g in self._groups.values() if g.flush is not None]:
                await asyncio.gather(*pending, return_exceptions=True)
        finally:
            self._draining.clear()

    async def _flush_later(self, group: _Group) -> None:
        """After ``edit_interval``: show the burst's count (edit, or send when the
        first message never went out)."""
        sleeper = asyncio.ensure_future(self.clock.sleep(self.config.edit_interval))
        drained = asyncio.ensure_future(self._draining.wait())
        try:
            await asyncio.wait({sleeper, drained}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            drained.cancel()
        await group.sent.wait()
        group.flush = None  # later arrivals schedule the next edit
        text = format_group(group.first, group.latest, group.count)
        try:
            message_id = await self._deliver(text, group.latest, [], edit=group.message_id)
        except PlatformError as exc:
            logging.getLogger("pellacia.alerts").warning("telegram: burst update failed: %s", exc)
            return
        group.message_id = group.message_id or message_id

    async def _deliver(
        self, text: str, alert: Alert, keys: list[tuple[str, str]], *, edit: int | None
    ) -> int | None:
        silent = alert.level != "critical" and self.config.quiet_at(self.clock.now())
        try:
            return await self._send_text(text, keys=keys, silent=silent, edit=edit)
        except PlatformError:
            raise
        except Exception as exc:  # anything else PTB/httpx raised, without its chain
            raise Transient(self._clean(exc), platform="telegram", network=True) from None

    async def _send_text(
        self, text: str, *, keys: list[tuple[str, str]], silent: bool, edit: int | None
    ) -> int | None:
        from telegram.error import RetryAfter

        try:
            return await self._post(text, keys=keys, silent=silent, edit=edit)
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
            return await self._post(text, keys=keys, silent=silent, edit=edit)
        except RetryAfter as exc:
            again = _retry_after(exc)
            raise RateLimited(
                f"Telegram still rate-limits after waiting {wait:g} s (retry after {again:g} s)",
                platform="telegram",
                retry_after=again,
            ) from None

    async def _post(
        self, text: str, *, keys: list[tuple[str, str]], silent: bool, edit: int | None
    ) -> int | None:
        from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
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
        markup = (
            InlineKeyboardMarkup(
                [[InlineKeyboardButton(label, callback_data=d) for label, d in keys]]
            )
            if keys
            else None
        )
        options: dict[str, Any] = {
            "chat_id": self.config.chat_id,
            "text": text,
            "parse_mode": ParseMode.HTML,
            "link_preview_options": LinkPreviewOptions(is_disabled=True),
            "reply_markup": markup,
        }
        try:
            async with bot:
                if edit is not None:
                    await bot.edit_message_text(message_id=edit, **options)
                    self.edits_made += 1
                    return edit
                sent = await bot.send_message(disable_notification=silent, **options)
                self.messages_sent += 1
                return sent.message_id
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
